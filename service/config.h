/* SPDX-License-Identifier: MIT */
/*
 * config.h - sandboxd's configuration: /etc/sandboxd/config.json (or --config FILE), then the
 * command-line flags, which override it. Parsed and checked once into plain data; nothing after
 * cfg_load() looks at JSON. Every error names the key or flag at fault.
 */
#ifndef SVC_CONFIG_H
#define SVC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "sandbox.h"

#define CFG_DEFAULT_PATH "/etc/sandboxd/config.json"

struct cfg_key {
	char *name; /* shown in logs and stored as a job's owner; never the secret */
	char *key;  /* the secret sent as X-API-Key or Authorization: Bearer */
};

/* Caps on what a request may ask for (request limits above them -> 400 naming the field). */
struct cfg_limits {
	uint64_t cpu_ms, wall_ms, memory_mb, pids, output_kb;
};

struct cfg {
	char *listen_addr;    /* "127.0.0.1" (IPv4 or IPv6 literal) */
	unsigned listen_port; /* 8080 */
	bool allow_public;   /* listen beyond loopback without API keys ("allow_insecure_listen") */
	char *state_dir;     /* /var/lib/sandboxd: history.db, images/, work/ */
	char *profile_dir;   /* NULL: libsandbox's search (next to the binary, installed) */
	char *cgroup_parent; /* NULL: libsandbox's default */
	unsigned slots;	     /* concurrent jobs; 0 in the file = the number of online CPUs */
	unsigned queue_max;  /* queued jobs beyond the running ones; full -> 429 */
	uint64_t max_body_bytes; /* request body cap; larger -> 413 */
	unsigned max_files;	 /* files[] entries per request */
	unsigned max_args;	 /* args[] and env{} entries per request */
	unsigned max_tests;	 /* tests[] entries per request */
	struct cfg_limits caps;	 /* per-request limit caps */
	struct cfg_key *keys;	 /* API keys; n_keys == 0: no authentication */
	size_t n_keys;
	double rate_per_sec; /* token bucket per key (or per client IP without keys); 0 = off */
	double rate_burst;
	unsigned history_retention_days; /* 0 = keep forever */
	unsigned shutdown_grace_ms;	 /* on SIGTERM, how long running jobs may go on */
	unsigned callback_retries;	 /* attempts after the first one */
	unsigned callback_timeout_ms;
	bool host_fallback;  /* a language whose image is absent runs on the host rootfs */
	bool pull_on_demand; /* else its image is pulled by its first job */
	char *config_path;   /* the file read (absolute), or NULL: the puller reads it too */
	bool from_file;	     /* a config file was read */
};

/*
 * Load the configuration: defaults, then the file (path NULL: CFG_DEFAULT_PATH when it exists;
 * an explicit path must exist), then the flags (argv as given to main; unknown flags -> EINVAL
 * with a message naming them). --help fills nothing and returns 1.
 * Flags: --listen ADDR:PORT, --config FILE, --state-dir DIR, --slots N, --profile-dir DIR,
 *        --cgroup-parent PATH, --allow-public, --queue N.
 */
int cfg_load(int argc, char **argv, struct cfg *ret, struct sbx_error *err);
void cfg_free(struct cfg *c);
/* Usage text for --help. */
extern const char cfg_usage[];

/* The listen address is 127.0.0.0/8 or ::1. */
bool cfg_listen_is_loopback(const struct cfg *c);

#endif
