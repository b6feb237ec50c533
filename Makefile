# sandboxd - build, test, bench, install.
#
#   make            build everything into build/
#   make deps       install missing Debian packages (quiet and quick when all are present)
#   make test       deps, build, then every test (unit + ASan/UBSan, jail, attack suite, cgroup v2)
#   make bench      per-job latency against native runs
#   make run        build and start sandboxd on 127.0.0.1:8080 (host rootfs: python, bash)
#   make format     clang-format every C file
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/sandboxd
UNITDIR ?= /etc/systemd/system
DESTDIR ?=

CC ?= gcc
B := build
# V=1 shows the commands.
Q := $(if $(V),,@)

DEB_PACKAGES := gcc g++ make pkg-config libc6-dev libseccomp-dev libcap-dev libmnl-dev libcjson-dev \
	libmicrohttpd-dev libcurl4-openssl-dev libarchive-dev libssl-dev libsqlite3-dev \
	python3 iproute2 util-linux user-mode-linux docker-registry apache2-utils openssl curl \
	skopeo jq busybox-static umoci mmdebstrap debian-archive-keyring

PKGS := libseccomp libcap libmnl libcjson libcurl libarchive libcrypto libmicrohttpd sqlite3
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -fstack-clash-protection \
	-fcf-protection
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(CFLAGS) -iquote sandbox -iquote rootfs \
	-iquote service $(PKG_CFLAGS) \
	-DSBX_DATADIR='"$(DATADIR)"'
LDFLAGS_H := -pie -Wl,-z,relro,-z,now,-z,noexecstack
SAN := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SANDBOX_SRC := $(sort $(wildcard sandbox/*.c))
SANDBOX_OBJ := $(SANDBOX_SRC:%.c=$(B)/%.o)
ROOTFS_SRC := $(sort $(wildcard rootfs/*.c))
ROOTFS_OBJ := $(ROOTFS_SRC:%.c=$(B)/%.o)
# The service's modules (all but main.c) are also linked into the unit tests.
SERVICE_SRC := $(filter-out service/main.c,$(sort $(wildcard service/*.c)))
LIB_SRC := $(SANDBOX_SRC) $(ROOTFS_SRC) $(SERVICE_SRC)
LIB_HDR := $(wildcard sandbox/*.h rootfs/*.h service/*.h)
# Two binaries: sandboxctl (run, check: lean, no libcurl/libarchive to load on every job) and
# sandboxctl-image (pull, images, inspect, rm, gc), which sandboxctl execs for those commands.
SANDBOXCTL_SRC := tools/sandboxctl.c tools/sandboxctl_common.c tools/sandboxctl_run.c \
	tools/sandboxctl_check.c tools/sandboxctl_helper.c
SANDBOXCTL_IMAGE_SRC := tools/sandboxctl_image_main.c tools/sandboxctl_common.c \
	tools/sandboxctl_image.c $(wildcard tools/sandboxctl_jobs.c)
JAIL_PKGS := libseccomp libcap libmnl libcjson
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)
PROBE_SRC := $(sort $(wildcard tests/probe/*.c))
PROBE_BIN := $(PROBE_SRC:tests/probe/%.c=$(B)/probe/%)

.PHONY: all deps test unit bench run format install clean check-format
all: $(B)/libsandbox.a $(B)/librootfs.a $(B)/sandboxctl $(B)/sandboxctl-image $(B)/sandboxd $(PROBE_BIN)

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends $$missing >/dev/null 2>&1 || \
		{ apt-get -o DPkg::Lock::Timeout=600 -qq update >/dev/null && \
		  apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends $$missing >/dev/null; } || \
		{ echo "deps: apt-get install failed: $$missing" >&2; exit 1; }; \
	fi

$(B)/%.o: %.c $(LIB_HDR) tools/sandboxctl.h | $(B)/sandbox $(B)/rootfs $(B)/service $(B)/tools
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/sandbox $(B)/rootfs $(B)/service $(B)/tools $(B)/unit $(B)/unit-plain $(B)/probe:
	@mkdir -p $@

$(B)/libsandbox.a: $(SANDBOX_OBJ)
	$(Q)ar rcs $@ $^

$(B)/librootfs.a: $(ROOTFS_OBJ)
	$(Q)ar rcs $@ $^

$(B)/sandboxctl: $(SANDBOXCTL_SRC:%.c=$(B)/%.o) $(B)/libsandbox.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_H) -o $@ $^ $(shell pkg-config --libs $(JAIL_PKGS)) -lm

$(B)/sandboxctl-image: $(SANDBOXCTL_IMAGE_SRC:%.c=$(B)/%.o) $(B)/librootfs.a $(B)/libsandbox.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_H) -o $@ $^ $(PKG_LIBS)

$(B)/sandboxd: $(B)/service/main.o $(SERVICE_SRC:%.c=$(B)/%.o) $(B)/librootfs.a $(B)/libsandbox.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_H) -o $@ $^ $(PKG_LIBS) -pthread

# Probes run inside jails whose rootfs may lack our libc: static, no dependencies.
$(B)/probe/%: tests/probe/%.c | $(B)/probe
	@echo "  PROBE   $@"
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -static -pthread -o $@ $<

# Unit tests: the libraries built once more with ASan + UBSan (and once plain, for the
# cgroup-v2 guest, where ASan cannot map its shadow memory inside User-Mode Linux).
UNIT_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) -iquote sandbox -iquote rootfs -iquote service \
	-iquote tests/unit \
	$(PKG_CFLAGS) -DSBX_DATADIR='"$(DATADIR)"'

$(B)/asan/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(UNIT_CFLAGS) $(SAN) -c -o $@ $<

$(B)/plain/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(UNIT_CFLAGS) -O1 -g -c -o $@ $<

$(B)/asan/libunit.a: $(LIB_SRC:%.c=$(B)/asan/%.o)
	$(Q)ar rcs $@ $^

$(B)/plain/libunit.a: $(LIB_SRC:%.c=$(B)/plain/%.o)
	$(Q)ar rcs $@ $^

$(B)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(B)/asan/libunit.a | $(B)/unit
	@echo "  UNIT    $@"
	$(Q)$(CC) $(UNIT_CFLAGS) $(SAN) -o $@ $< $(B)/asan/libunit.a $(PKG_LIBS) -pthread

$(B)/unit-plain/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(B)/plain/libunit.a | $(B)/unit-plain
	@echo "  UNIT    $@"
	$(Q)$(CC) $(UNIT_CFLAGS) -O1 -g -o $@ $< $(B)/plain/libunit.a $(PKG_LIBS) -pthread

unit: $(UNIT_BIN) $(UNIT_SRC:tests/unit/%.c=$(B)/unit-plain/%)

test: deps
	@$(MAKE) --no-print-directory all unit
	@tests/run-all

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/run

# sandboxd in the foreground on 127.0.0.1:8080, languages on the host rootfs (no download).
# Without a config file the host fallback is on; RUN_FLAGS adds sandboxd flags.
RUN_LISTEN ?= 127.0.0.1:8080
run: deps
	@$(MAKE) --no-print-directory all
	@build/sandboxctl check || true
	@echo
	@echo "sandboxd on http://$(RUN_LISTEN) (Ctrl-C stops it). Try, from another terminal:"
	@echo
	@echo "  curl -s http://$(RUN_LISTEN)/api/v1/execute -d '{\"language\": \"python\", \"code\": \"print(sum(range(10)))\"}'"
	@echo "  curl -s http://$(RUN_LISTEN)/api/v1/languages"
	@echo "  build/sandboxctl status --server http://$(RUN_LISTEN)"
	@echo
	@exec build/sandboxd --listen $(RUN_LISTEN) $(RUN_FLAGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

# The unit gets the real paths; the config is installed once and never overwritten (it is the
# operator's, and may hold API keys: 0640).
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/profiles/security $(DESTDIR)$(DATADIR)/profiles/languages
	install -m 0755 $(B)/sandboxctl $(B)/sandboxctl-image $(B)/sandboxd $(DESTDIR)$(BINDIR)/
	install -m 0644 profiles/security/*.json $(DESTDIR)$(DATADIR)/profiles/security/
	for f in profiles/languages/*.json; do [ ! -e "$$f" ] || install -m 0644 "$$f" $(DESTDIR)$(DATADIR)/profiles/languages/; done
	install -m 0644 README.md $(DESTDIR)$(DATADIR)/README.md
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' tools/sandboxd.service \
		> $(DESTDIR)$(UNITDIR)/sandboxd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sandboxd.service
	[ -d $(DESTDIR)/etc/sandboxd ] || install -d -m 0750 $(DESTDIR)/etc/sandboxd
	if [ -e $(DESTDIR)/etc/sandboxd/config.json ]; then \
		echo "install: kept the existing $(DESTDIR)/etc/sandboxd/config.json"; \
	else \
		install -m 0640 tools/config.json $(DESTDIR)/etc/sandboxd/config.json; \
	fi
	@echo "install: now run: systemctl daemon-reload && systemctl enable --now sandboxd"

clean:
	rm -rf $(B) tests/.work
