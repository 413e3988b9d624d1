# Checks the Test::Nginx::Socket runner itself with plain nginx features
# only, so it passes without the ubt module and under both the bundled
# runner (t/lib) and openresty/test-nginx.

use Test::Nginx::Socket;

# Used by the environment substitution test below.
$ENV{TEST_NGINX_RUNNER_WORD} = 'plum';

repeat_each(2);

# Tests per repeat: one status check per response plus the sections each
# block lists; the shutdown_error_log block adds 2 tests only once.
plan tests => repeat_each() * 99 + 2;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: return with body
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: block without config reuses nginx
--- request
GET /t
--- response_body
hello



=== TEST 3: status code from return
--- config
    location = /t {
        return 403;
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden



=== TEST 4: status code pattern
--- config
    location = /t {
        return 404;
    }
--- request
GET /t
--- error_code_like: ^(?:403|404)$



=== TEST 5: exact and absent headers
--- config
    location = /t {
        add_header X-Runner bundled;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Runner: bundled
Content-Type: text/plain
!X-Absent
--- response_body
ok



=== TEST 6: header patterns
--- config
    location = /t {
        add_header X-Num 42;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers_like
X-Num: \d+
Content-Length: [0-9]+



=== TEST 7: raw response headers
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- raw_response_headers_like eval
qr{^HTTP/1\.1 200 OK\r\n.*Content-Length: 3\r\n}s
--- raw_response_headers_unlike: Transfer-Encoding



=== TEST 8: more_headers lines
--- config
    location = /t {
        return 200 "a=$http_x_a b=$http_x_b\n";
    }
--- request
GET /t
--- more_headers
X-A: 1
# comment lines are skipped
X-B: two words
--- response_body
a=1 b=two words



=== TEST 9: more_headers from eval
--- config
    location = /t {
        return 200 "a=$http_x_a b=$http_x_b\n";
    }
--- request
GET /t
--- more_headers eval
"X-A: " . ("x" x 3)
--- response_body
a=xxx b=



=== TEST 10: requests from eval
--- config
    location = /one {
        return 200 "one\n";
    }
    location = /forbidden {
        return 403;
    }
--- request eval
["GET /one", "GET /missing.txt", "GET /forbidden"]
--- error_code eval
[200, 404, 403]
--- response_body_like eval
["^one\n\$", "404 Not Found", "403 Forbidden"]
--- no_error_log
[alert]



=== TEST 11: more_headers per request
--- config
    location = /t {
        return 200 "a=$http_x_a\n";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-A: first", "X-A: second"]
--- response_body eval
["a=first\n", "a=second\n"]



=== TEST 12: request body with Content-Length
--- config
    location = /t {
        return 200 "length=$content_length type=$content_type\n";
    }
--- request
POST /t
hello world
--- more_headers
Content-Type: text/plain
--- response_body
length=11 type=text/plain



=== TEST 13: proxy to server in http_config
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server_name backend;

        location / {
            add_header X-Backend yes;
            return 200 "backend got $request_method $request_uri\n";
        }
    }
--- config
    location /proxy/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- request
GET /proxy/abc?x=1
--- response_headers
X-Backend: yes
--- response_body
backend got GET /abc?x=1



=== TEST 14: chunked response
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;

        location / {
            return 200 "from the backend\n";
        }
    }
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;

        # sub_filter drops Content-Length, so the reply is chunked.
        sub_filter backend BACKEND;
        sub_filter_types text/plain;
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
from the BACKEND



=== TEST 15: user files under html
--- config
    # The default "location /" serves the html directory.
--- user_files
>>> hello.txt
hello from a user file
>>> sub/dir/nested.txt
nested file
--- request eval
["GET /hello.txt", "GET /sub/dir/nested.txt"]
--- response_body eval
["hello from a user file\n", "nested file\n"]



=== TEST 16: error_log lines from a 404
--- config
--- request
GET /missing.txt
--- error_code: 404
--- error_log
[error]
missing.txt" failed (2: No such file or directory)
--- no_error_log
[emerg]



=== TEST 17: error_log patterns from eval
--- config
--- request
GET /missing.txt
--- error_code: 404
--- error_log eval
[qr/open\(\) "[^"]+missing\.txt" failed/, "No such file"]
--- no_error_log eval
qr/\[(?:alert|crit)\]/



=== TEST 18: grep_error_log with a substring
--- config
--- request
GET /missing.txt
--- error_code: 404
--- grep_error_log: No such file or directory
--- grep_error_log_out
No such file or directory



=== TEST 19: grep_error_log with a regex
--- config
--- request
GET /missing.txt
--- error_code: 404
--- grep_error_log eval
qr/open\(\) "[^"]+" failed/
--- grep_error_log_out
open() "$TEST_NGINX_SERVER_ROOT/html/missing.txt" failed



=== TEST 20: log_level section
--- config
--- log_level: warn
--- request
GET /missing.txt
--- error_code: 404
--- error_log
[error]
--- no_error_log
[debug]
[info]



=== TEST 21: pipelined requests
--- config
    location = /t {
        return 200 "t\n";
    }
    location = /u {
        return 200 "u\n";
    }
--- pipelined_requests eval
["GET /t", "GET /u"]
--- response_body eval
["t\n", "u\n"]



=== TEST 22: raw request
--- config
    location = /t {
        return 200 "raw\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_headers
Connection: close
--- response_body
raw



=== TEST 23: HEAD request has no body
--- config
    location = /t {
        return 200 "12345\n";
    }
--- request
HEAD /t
--- response_headers
Content-Length: 6
--- response_body



=== TEST 24: timeout with abort
--- config
    location = /t {
        # Sends 1 byte, then waits about 1s, longer than the timeout.
        limit_rate 1;
        return 200 "slow body\n";
    }
--- request
GET /t
--- timeout: 300ms
--- abort
--- ignore_response
--- no_error_log
[emerg]



=== TEST 25: wait before log checks
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- wait: 0.1
--- error_log
http finalize request



=== TEST 26: init code runs first
--- config
--- init
open my $out, '>', "$ENV{TEST_NGINX_SERVER_ROOT}/html/from-init.txt"
    or die "cannot write from-init.txt: $!";
print $out "written by init\n";
close $out;
--- request
GET /from-init.txt
--- response_body
written by init



=== TEST 27: invalid config must die
--- config
    location = /t {
        return a b c;
    }
--- must_die
--- suppress_stderr
--- error_log
[emerg]
invalid number of arguments in "return" directive



=== TEST 28: shutdown error log
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- shutdown_error_log
(SIGQUIT) received
--- no_shutdown_error_log
[alert]



=== TEST 29: skipped block is not run
--- SKIP
--- config
    location = /t {
        return 500;
    }
--- request
GET /t
--- response_body
never checked



=== TEST 30: environment substitution
--- config
    location = /t {
        return 200 "word=$TEST_NGINX_RUNNER_WORD\n";
    }
--- request
GET /t
--- response_body
word=$TEST_NGINX_RUNNER_WORD



=== TEST 31: escapes from eval
--- config
    location = /t {
        return 200 "a\tb\r\n";
    }
--- request
GET /t
--- response_body eval
"a\tb\r\n"



=== TEST 32: response_body_unlike
--- config
    location = /t {
        return 200 "all good\n";
    }
--- request
GET /t
--- response_body_unlike: error



=== TEST 33: response body filters
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body_filters
uc
--- response_body
HELLO



=== TEST 34: access log lines
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t?from=access-log
--- access_log
"GET /t?from=access-log HTTP/1.1" 200
--- no_access_log
"POST



=== TEST 35: request over HTTP/2
openresty/test-nginx enables HTTP/2 with "http2 on" for nginx 1.19.9 and
later, a directive nginx has only from 1.25.1, so there it needs 1.25.1.
--- skip_eval
3: $INC{'Test/Nginx/Util.pm'} && `${\($ENV{TEST_NGINX_BINARY} || 'nginx')} -v 2>&1` =~ m{/1\.(\d+)\.} && $1 < 25
--- http2
--- config
    location = /t {
        return 200 "$server_protocol $http_x_word\n";
    }
--- request
GET /t
--- more_headers
X-Word: plum
--- raw_response_headers_like: ^HTTP/2 200
--- response_body
HTTP/2.0 plum
