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

.PHONY: all build deps demo up down test test-constant-time test-valgrind \
        clean

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

clean:
	rm -rf $(BUILD) t/servroot
