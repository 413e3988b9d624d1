# The counters of several workers add up: each worker counts in its own
# slot of the shared zone, and whichever worker serves the scrape sums
# every slot.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

our $Config = <<'_EOC_';
    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }

    location = /metrics {
        ubt_metrics;
    }
_EOC_

repeat_each(1);
master_on();
workers(2);

# four checks a request (status, body, two error-log patterns)
plan tests => repeat_each() * (4 * blocks() + 4 * 12);

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config);
run_tests();

__DATA__
=== TEST 1: every scrape sees the requests of both workers
--- init
UbtTest::flush();
UbtTest::seed('1401', UbtTest::key('live', 'u1401'));
--- request eval
[("GET /api/v1/me") x 10, ("GET /metrics") x 3]
--- more_headers eval
[(map { UbtTest::headers(key => UbtTest::key('live', 'u1401'), user => '1401') } 1 .. 10),
 "", "", ""]
--- error_code eval
[(200) x 13]
--- response_body_like eval
[(qr/^user=1401\n/) x 10,
 (qr/\nubt_requests_total\{outcome="accepted",reason="OK"\} 10\n.*\nubt_redis_servers\{worker="0"\} 1\nubt_redis_servers\{worker="1"\} 1\n/s) x 3]
--- no_error_log
[error]
[alert]
