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

.PHONY: all build deps demo up down test test-valgrind test-asan clean

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

test: deps build
	util/run-tests

# The suites run with every test nginx under valgrind memcheck; a block
# fails when memcheck reports an error or a definite leak.  Suites whose
# blocks depend on timing are left out, because memcheck runs nginx about
# 20 to 30 times slower (Valgrind Quick Start Guide) and they could fail
# for that reason alone.
VALGRIND_SUITES := t/000-runner.t t/001-access.t t/002-provision.t \
                   t/003-config.t t/005-hmac.t t/006-admin.t \
                   t/007-control.t

test-valgrind: deps build
	@command -v valgrind >/dev/null || { \
	    echo "valgrind not found: install valgrind" >&2; exit 1; }
	@echo "test-valgrind: skipping t/004-redis.t (Redis timeouts of 200 and 300 ms, a client abort after 0.2 s)"
	@echo "test-valgrind: skipping t/008-gateways.t (a second nginx gateway and reloads under load)"
	@echo "test-valgrind: skipping t/009-ratelimit.t (rate windows and Retry-After of 1 s, concurrency bursts)"
	@echo "test-valgrind: skipping t/010-faults.t (Redis killed and restarted under load with a 300 ms timeout)"
	TEST_NGINX_USE_VALGRIND=1 util/run-tests $(VALGRIND_SUITES)

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

$(ASAN_NGINX): $(SOURCES) util/build-asan
	NGINX_SRC=$(NGINX_SRC) util/build-asan $(ASAN_BUILD)

test-asan: deps $(ASAN_NGINX)
	TEST_NGINX_USE_ASAN=1 TEST_NGINX_BINARY=$(ASAN_NGINX) \
	    TEST_NGINX_LOAD_MODULES=$(ASAN_MODULE) \
	    TEST_NGINX_ASAN_REPORT_DIR=$(ASAN_BUILD)/reports util/run-tests

clean:
	rm -rf $(BUILD) t/servroot
