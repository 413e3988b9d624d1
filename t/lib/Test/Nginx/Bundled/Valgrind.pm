package Test::Nginx::Bundled::Valgrind;

# Valgrind memcheck mode of the bundled Test::Nginx::Socket: the command
# that nginx runs under and the check of the log that memcheck writes.

use strict;
use warnings;

# Exit status of valgrind when memcheck found an error (definite leaks
# count as errors).  nginx itself exits with 0, 1 or 2, so this value
# cannot be confused with an nginx status.
our $ErrorExitCode = 99;

# Return the valgrind command, as a list, that nginx's command line is
# appended to.  Keys: log_file (required), suppressions (a file, optional).
sub command {
    my (%args) = @_;

    my @cmd = (
        'valgrind',
        '--tool=memcheck',
        '--leak-check=full',
        '--show-leak-kinds=definite',
        '--errors-for-leak-kinds=definite',
        "--error-exitcode=$ErrorExitCode",
        '--num-callers=30',
        "--log-file=$args{log_file}",
    );

    if (defined $args{suppressions} && length $args{suppressions}) {
        push @cmd, "--suppressions=$args{suppressions}";
    }

    return @cmd;
}

# Check the text of a memcheck log.  Returns the parts that report a
# problem: every error record (a stack trace that is not a valgrind
# warning), the leak summary if it has definitely lost bytes, and the
# error summary if it counts an error.  An empty list means a clean run.
# A log without an "ERROR SUMMARY" line counts as a problem, because
# memcheck writes that line only when the process exits normally.
sub problems {
    my ($text) = @_;

    my @records = split_records($text);
    my @problems;

    for my $record (@records) {
        next unless $record =~ /^\s+(?:at|by) 0x/m;
        next if $record =~ /^warning/i;
        push @problems, $record;
    }

    my ($leak_summary) = grep { /^LEAK SUMMARY:/ } @records;
    if ($leak_summary && $leak_summary =~ /definitely lost: ([\d,]+) bytes/
        && $1 ne '0')
    {
        push @problems, $leak_summary;
    }

    my ($error_summary) = $text =~ /^==\d+== (ERROR SUMMARY: .*)$/m;
    if (!defined $error_summary) {
        push @problems, "no ERROR SUMMARY line: valgrind did not finish "
            . "its report, so nginx did not exit normally\n";
    } elsif ($error_summary !~ /^ERROR SUMMARY: 0 errors/) {
        push @problems, "$error_summary\n";
    }

    return @problems;
}

# Split a memcheck log into records: the blank "==PID==" lines separate
# them.  The "==PID== " prefixes are removed.
sub split_records {
    my ($text) = @_;

    my @records = ('');
    for my $line (split /^/, defined $text ? $text : '') {
        $line =~ s/^==\d+== ?//;

        if ($line =~ /^\s*$/) {
            push @records, '' if length $records[-1];
            next;
        }
        $records[-1] .= $line;
    }
    pop @records unless length $records[-1];

    return @records;
}

1;
