# Builds ngx_http_ubt_module as a dynamic module for the system nginx, and
# runs the demo and the test suites.  See README.md.

SHELL         := /bin/bash

NGINX_SRC     ?= /usr/share/nginx/src
NGINX_BIN     ?= /usr/sbin/nginx
BUILD         ?= $(CURDIR)/build
MODULE        := $(BUILD)/ngx_http_ubt_module.so

# Debian's hardening flags, as its own nginx modules are built with
CC_OPT        ?= -g -O2 -fstack-protector-strong -Wformat \
                 -Werror=format-security -fPIC -Wdate-time -D_FORTIFY_SOURCE=2
LD_OPT        ?= -Wl,-z,relro -Wl,-z,now -fPIC

SOURCES       := config ngx_http_ubt_module.c $(wildcard src/*.c src/*.h) \
                 $(wildcard redis/*.lua)

.PHONY: all build deps demo up down test test-cluster test-constant-time \
        test-valgrind \
        test-asan asan-deps fuzz fuzz-deps bench bench-smoke bench-profile \
        bench-deps deb deb-deps test-deb install-ubtctl clean

all: build

build: $(MODULE)

deps:
	@util/install-deps

# The nginx tree is copied, because configure writes into the directory it
# runs from.  conf_flags holds the configure arguments of Debian's nginx,
# so the module matches its binary; a plain source tree is configured with
# --with-compat and whatever NGINX_CONFIGURE_ARGS adds.
$(MODULE): $(SOURCES)
	@test -x $(NGINX_SRC)/configure -o -x $(NGINX_SRC)/auto/configure || { \
	    echo "no nginx configure script in $(NGINX_SRC) or" \
	         "$(NGINX_SRC)/auto: install nginx-dev (make deps) or set" \
	         "NGINX_SRC to an nginx source tree" >&2; exit 1; }
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(BUILD)/nginx
	@echo "configuring nginx from $(NGINX_SRC) in $(BUILD)/nginx"
	@cd $(BUILD)/nginx && \
	    if [ -f conf_flags ]; then \
	        . ./conf_flags; \
	    else \
	        NGX_CONF_FLAGS="--with-compat"; \
	    fi; \
	    if [ -x configure ]; then configure=./configure; \
	    else configure=auto/configure; fi; \
	    $$configure --with-cc-opt="$(CC_OPT)" --with-ld-opt="$(LD_OPT)" \
	        "$${NGX_CONF_FLAGS[@]}" $(NGINX_CONFIGURE_ARGS) \
	        --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log 2>&1 || \
	    { tail -n 30 $(BUILD)/configure.log >&2; exit 1; }
	@echo "compiling the module (log: $(BUILD)/make.log)"
	@$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules \
	    > $(BUILD)/make.log 2>&1 || \
	    { grep -E -A4 'error:|warning:' $(BUILD)/make.log >&2 || \
	      tail -n 30 $(BUILD)/make.log >&2; exit 1; }
	cp $(BUILD)/nginx/objs/ngx_http_ubt_module.so $(MODULE)
	@echo "built $(MODULE)"

demo: deps build
	demo/ubt-demo run

up: deps build
	demo/ubt-demo up

down:
	demo/ubt-demo down

# The suites whose requests all go to the test server run a second time
# over HTTP/2 (TEST_NGINX_USE_HTTP2), so that every credential, admin and
# provisioning case is checked on both protocols.  The others drive a
# second gateway, bursts or Redis faults over HTTP/1.1 sockets of their own.
HTTP2_SUITES  := t/001-access.t t/002-provision.t t/003-config.t \
                 t/004-redis.t t/005-hmac.t t/006-admin.t t/007-control.t

# The constant-time check: a second build of the module, with
# NGX_HTTP_UBT_CT_CHECK, marks every secret as undefined for valgrind's
# memcheck, and the suites that compare secrets run on it under memcheck.
# A branch or an address that depends on a secret byte fails them.
CT_MODULE     := $(BUILD)/ct/ngx_http_ubt_module.so
CT_SUITES     := t/005-hmac.t t/011-constant-time.t
CT_RUN        := TEST_NGINX_USE_VALGRIND=1 \
                 TEST_NGINX_LOAD_MODULES=$(CT_MODULE) \
                 util/run-tests $(CT_SUITES)

$(CT_MODULE): $(SOURCES)
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/ct \
	    CC_OPT="$(CC_OPT) -DNGX_HTTP_UBT_CT_CHECK=1" build

test: deps build $(CT_MODULE)
	util/run-tests
	TEST_NGINX_USE_HTTP2=1 util/run-tests $(HTTP2_SUITES)
	$(CT_RUN)
	util/run-tests --cluster

# The Redis Cluster suite, t/cluster/: util/run-tests --cluster starts six
# redis-server nodes through util/redis-cluster (ports from
# TEST_NGINX_REDIS_CLUSTER_PORT, default the first free range from 7000
# up, and each port + 10000 for the cluster bus) and stops them at the end.
# It fails over, kills and reshards that cluster under load; "make test"
# runs it last, and "make test-cluster" alone.
test-cluster: deps build
	util/run-tests --cluster

test-constant-time: deps $(CT_MODULE)
	$(CT_RUN)

# Every suite runs with each test nginx, and the second gateway of
# t/008 and t/009, under valgrind memcheck; a block fails when memcheck
# reports an error or a definite leak.  Memcheck runs nginx about 20 to 30
# times slower (Valgrind Quick Start Guide), so the few blocks that depend
# on timing and could fail for that reason alone carry --- skip_valgrind
# and run their nginx without it.
test-valgrind: deps build
	@command -v valgrind >/dev/null || { \
	    echo "valgrind not found: install valgrind" >&2; exit 1; }
	TEST_NGINX_USE_VALGRIND=1 util/run-tests

# libFuzzer targets for the parsers of untrusted input, built with clang
# and AddressSanitizer and UndefinedBehaviorSanitizer against nginx core
# objects compiled the same way (util/fuzz-nginx), and each run for
# FUZZ_SECONDS.  New inputs go to build/fuzz/corpus, not to fuzz/corpus;
# the run fails when a target crashes, a sanitizer reports an error or a
# harness check fails.  See fuzz/ and util/run-fuzz.
FUZZ          := $(BUILD)/fuzz
FUZZ_CC       ?= clang-14
FUZZ_SECONDS  ?= 60
FUZZ_TARGETS  := headers timestamp tokens provision admin log_update
FUZZ_CFLAGS   := -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all \
                 -DNGX_DEBUG_PALLOC=1
# nginx's own warning flags for clang
FUZZ_WARN     := -Wall -Wextra -Wpointer-arith -Wconditional-uninitialized \
                 -Wno-unused-parameter -Werror
FUZZ_COMMON   := fuzz/ngx_http_ubt_fuzz.c fuzz/ngx_http_ubt_fuzz.h \
                 fuzz/ngx_http_ubt_unity.c

fuzz-deps:
	@util/install-deps fuzz

$(FUZZ)/nginx.objs: util/fuzz-nginx util/deb-src-apt.sh config
	util/fuzz-nginx $(FUZZ) $(FUZZ_CC) \
	    "$(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined"

$(FUZZ)/bin/%: fuzz/%.c $(FUZZ_COMMON) $(SOURCES) $(FUZZ)/nginx.objs
	@mkdir -p $(FUZZ)/bin
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) \
	    -fsanitize=fuzzer,address,undefined \
	    $$(cat $(FUZZ)/nginx.incs) -I fuzz -o $@ \
	    fuzz/$*.c fuzz/ngx_http_ubt_fuzz.c \
	    $$(cat $(FUZZ)/nginx.objs) $$(cat $(FUZZ)/nginx.libs) -lz

fuzz: fuzz-deps $(addprefix $(FUZZ)/bin/,$(FUZZ_TARGETS))
	util/run-fuzz $(FUZZ) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The benchmark of docs/benchmarks.md: about a minute of load, and another
# few seconds for the RSS phase. BENCH_SECONDS, BENCH_ROUNDS and the other
# variables that bench/run lists make it longer.
bench: bench-deps build
	bench/run

# A couple of seconds per setup: checks that the scripts work and that
# every setup answers 200, with no figure compared with a target.
bench-smoke: bench-deps build
	BENCH_SMOKE=1 bench/run

# Setup B under callgrind for BENCH_PROFILE_REQUESTS requests (default 2000);
# BENCH_PROFILE_SETUP=E profiles setup E, which counts for ubt_metrics.
bench-profile: bench-deps build
	bench/profile

bench-deps:
	@util/install-deps bench

# The suites run against an nginx and a module built with clang's
# AddressSanitizer and UndefinedBehaviorSanitizer, from the Debian source
# package of the same nginx release (util/build-asan: nginx-dev has only
# the headers).  Every sanitizer report goes to a file in
# $(ASAN_BUILD)/reports; a block whose nginx wrote one fails, and so does
# the run.  The suppression files util/asan.supp, util/lsan.supp and
# util/ubsan.supp name only nginx's own code.  All suites run, none
# skipped: on a 2-core machine they take about 57 s here against 39 s in
# "make test", within their timeouts.
ASAN_BUILD  := $(BUILD)/asan
ASAN_NGINX  := $(ASAN_BUILD)/nginx/objs/nginx
ASAN_MODULE := $(ASAN_BUILD)/nginx/objs/ngx_http_ubt_module.so

$(ASAN_NGINX): $(SOURCES) util/build-asan util/deb-src-apt.sh
	NGINX_SRC=$(NGINX_SRC) util/build-asan $(ASAN_BUILD)

ASAN_RUN    := TEST_NGINX_USE_ASAN=1 TEST_NGINX_BINARY=$(ASAN_NGINX) \
               TEST_NGINX_LOAD_MODULES=$(ASAN_MODULE) \
               TEST_NGINX_ASAN_REPORT_DIR=$(ASAN_BUILD)/reports util/run-tests

test-asan: asan-deps $(ASAN_NGINX)
	$(ASAN_RUN)
	TEST_NGINX_USE_HTTP2=1 $(ASAN_RUN) $(HTTP2_SUITES)
	$(ASAN_RUN) --cluster

asan-deps:
	@util/install-deps asan

# The Debian package libnginx-mod-http-ubt, built with debhelper and
# dh_nginx in a copy of the tree under $(DEB_BUILD) (util/build-deb).  Its
# debian/rules builds the module with this Makefile.  make test-deb
# (util/test-deb, as root) checks the package with lintian, installs it,
# runs nginx -t on the packaged example and purges the package again.
DEB_BUILD   := $(BUILD)/deb

deb: deb-deps
	util/build-deb $(DEB_BUILD)

test-deb: deb
	util/test-deb $(DEB_BUILD)

deb-deps:
	@util/install-deps deb

# ubtctl, the operator command for the admin API, is a shell script that
# needs only curl and awk where it runs, so it can go to any host that
# reaches the admin location.
PREFIX        ?= /usr/local

install-ubtctl:
	install -D -m 0755 bin/ubtctl $(DESTDIR)$(PREFIX)/bin/ubtctl

clean:
	rm -rf $(BUILD) t/servroot
