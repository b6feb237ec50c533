/* SPDX-License-Identifier: MIT */
/*
 * reference.c - image names as Docker parses and normalises them (distribution/reference):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path            (<= 255 bytes once normalised)
 *   domain     := host [ ":" port ]              host := dns-name | "[" ipv6 "]"
 *   path       := component ( "/" component )*
 *   component  := [a-z0-9]+ ( separator [a-z0-9]+ )*     separator := "." | "_" | "__" | "-"+
 *   tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 *
 * Owns: splitting, checking and normalising a reference; its canonical spelling; which host to
 * contact; whether that host is loopback. Must not: resolve names, touch the network, log.
 * Everything a registry sees (host, path, tag, digest) comes out of here checked, so a
 * reference cannot smuggle "..", "?", "#" or "/" into a URL or a store path.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rootfs.h"
#include "util.h"

#define DEFAULT_DOMAIN	"docker.io"
#define LEGACY_DOMAIN	"index.docker.io"
#define DOCKER_API_HOST "registry-1.docker.io"
#define OFFICIAL_PREFIX "library/"
#define DEFAULT_TAG	"latest"
#define NAME_MAX_LEN	255
#define TAG_MAX_LEN	128
#define PORT_MAX_DIGITS 5
/* Longest input worth looking at: a full name, tag and digest, with room for "index." */
#define INPUT_MAX_LEN 512

struct ref_parser {
	char buf[INPUT_MAX_LEN + 1]; /* the input, cut in place at '@' and at the tag's ':' */
	const char *path;	     /* the name without its domain */
	struct img_ref ref;
};

typedef int (*ref_step_fn)(struct ref_parser *p, struct sbx_error *err);

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

static bool is_hex(char c)
{
	return is_lower_hex(c) || (c >= 'A' && c <= 'F');
}

/* ---- path ---------------------------------------------------------------------------------- */

/* Length of the separator at s: "." or "_" or "__" or a run of '-'; 0 if none. */
static size_t separator_len(const char *s, size_t n)
{
	size_t i = 0;

	if (s[0] == '.')
		return 1;
	if (s[0] == '_')
		return n > 1 && s[1] == '_' ? 2 : 1;
	while (i < n && s[i] == '-')
		i++;
	return i;
}

/* Alphanumeric runs joined by single separators: no leading, trailing or doubled separator,
 * hence never "." or "..". */
static bool path_component_valid(const char *s, size_t n)
{
	size_t i = 0, start, sep;

	for (;;) {
		start = i;
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return false;
		if (i == n)
			return true;
		sep = separator_len(s + i, n - i);
		if (!sep)
			return false;
		i += sep;
	}
}

static bool has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return true;
	return false;
}

static int check_path(const char *path, struct sbx_error *err)
{
	const char *c = path, *slash;
	size_t n;

	if (!*path)
		return sbx_err_msg(err, EINVAL, "repository name is empty");
	if (has_upper(path))
		return sbx_err_msg(err, EINVAL, "repository \"%s\" must be lowercase", path);
	for (;; c = slash + 1) {
		slash = strchrnul(c, '/');
		n = (size_t)(slash - c);
		if (n == 0)
			return sbx_err_msg(err, EINVAL,
					   "repository \"%s\": empty path component (leading, "
					   "trailing or doubled '/')",
					   path);
		if (!path_component_valid(c, n))
			return sbx_err_msg(err, EINVAL,
					   "repository \"%s\": invalid path component \"%.*s\"",
					   path, (int)n, c);
		if (!*slash)
			return 0;
	}
}

/* ---- domain -------------------------------------------------------------------------------- */

struct hostport {
	const char *host; /* brackets included for IPv6 */
	size_t host_len;
	const char *port; /* NULL when absent; may be "" (then invalid) */
	size_t port_len;
};

static bool split_hostport(const char *s, size_t n, struct hostport *ret)
{
	const char *end = s + n, *rest;

	if (n > 0 && s[0] == '[') {
		rest = memchr(s, ']', n);
		if (!rest)
			return false;
		rest++;
	} else {
		rest = memchr(s, ':', n);
		if (!rest)
			rest = end;
	}
	*ret = (struct hostport){ .host = s, .host_len = (size_t)(rest - s) };
	if (rest == end)
		return true;
	if (*rest != ':')
		return false;
	ret->port = rest + 1;
	ret->port_len = (size_t)(end - ret->port);
	return true;
}

/* Docker accepts any digit string; a port past 65535 could only fail later, less clearly. */
static bool port_valid(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > PORT_MAX_DIGITS)
		return false;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* One DNS label: alphanumeric at both ends, '-' inside. */
static bool label_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool dns_name_valid(const char *s, size_t n)
{
	const char *end = s + n, *dot;

	for (;; s = dot + 1) {
		dot = memchr(s, '.', (size_t)(end - s));
		if (!dot)
			return label_valid(s, (size_t)(end - s));
		if (!label_valid(s, (size_t)(dot - s)))
			return false;
	}
}

/* As Docker: hex digits and colons between brackets; inet_pton is left to whoever connects. */
static bool ipv6_literal_valid(const char *s, size_t n)
{
	size_t i;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return false;
	for (i = 1; i + 1 < n; i++)
		if (!is_hex(s[i]) && s[i] != ':')
			return false;
	return true;
}

static bool domain_valid(const char *s, size_t n)
{
	struct hostport hp;

	if (!split_hostport(s, n, &hp))
		return false;
	if (hp.port && !port_valid(hp.port, hp.port_len))
		return false;
	if (hp.host_len > 0 && hp.host[0] == '[')
		return ipv6_literal_valid(hp.host, hp.host_len);
	return dns_name_valid(hp.host, hp.host_len);
}

/* Docker's rule: the first component names a registry only if it cannot be a Hub namespace. */
static bool looks_like_domain(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !memcmp(s, "localhost", 9));
}

/* ---- the steps of a parse, in order -------------------------------------------------------- */

static int check_input(struct ref_parser *p, struct sbx_error *err)
{
	size_t i, n = strlen(p->buf);

	if (n == 0)
		return sbx_err_msg(err, EINVAL, "image reference is empty");
	/* Docker refuses a bare image ID: it would be read as a repository on Docker Hub. */
	for (i = 0; i < n && is_lower_hex(p->buf[i]); i++)
		;
	if (n == 64 && i == n)
		return sbx_err_msg(err, EINVAL,
				   "image reference \"%s\" is a 64-hex image ID, not a name",
				   p->buf);
	return 0;
}

static int cut_digest(struct ref_parser *p, struct sbx_error *err)
{
	char *at = strchr(p->buf, '@'), *d;
	size_t alg;

	if (!at)
		return 0;
	*at = '\0';
	d = at + 1;
	alg = strcspn(d, ":");
	if (d[alg] == ':' && (alg != 6 || memcmp(d, "sha256", 6) != 0))
		return sbx_err_msg(err, EINVAL, "digest \"%s\": unsupported algorithm \"%.*s\"", d,
				   (int)alg, d);
	if (!img_digest_valid(d))
		return sbx_err_msg(err, EINVAL,
				   "invalid digest \"%s\": want \"sha256:\" and 64 lowercase hex "
				   "digits",
				   d);
	memcpy(p->ref.digest, d, IMG_DIGEST_LEN + 1);
	return 0;
}

static int check_tag(const char *tag, struct sbx_error *err)
{
	size_t i, n = strlen(tag);

	if (n == 0)
		return sbx_err_msg(err, EINVAL, "tag is empty");
	if (n > TAG_MAX_LEN)
		return sbx_err_msg(err, EINVAL, "tag \"%.20s...\" is longer than %d characters",
				   tag, TAG_MAX_LEN);
	for (i = 0; i < n; i++) {
		bool ok = is_alnum(tag[i]) || tag[i] == '_' ||
			  (i > 0 && (tag[i] == '.' || tag[i] == '-'));
		if (!ok)
			return sbx_err_msg(err, EINVAL, "invalid tag \"%s\": byte 0x%02x at %zu",
					   tag, (unsigned char)tag[i], i);
	}
	return 0;
}

/* The tag's ':' is the last one after the last '/': earlier ones belong to a domain's port. */
static int cut_tag(struct ref_parser *p, struct sbx_error *err)
{
	char *slash = strrchr(p->buf, '/');
	char *colon = strrchr(slash ? slash : p->buf, ':');
	int r;

	if (!colon)
		return 0;
	*colon = '\0';
	r = check_tag(colon + 1, err);
	if (r < 0)
		return r;
	memcpy(p->ref.tag, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

static int split_domain(struct ref_parser *p, struct sbx_error *err)
{
	const char *name = p->buf, *slash = strchr(name, '/');
	size_t n;

	if (!slash || !looks_like_domain(name, (size_t)(slash - name))) {
		strcpy(p->ref.domain, DEFAULT_DOMAIN);
		p->path = name;
		return 0;
	}
	n = (size_t)(slash - name);
	if (n >= sizeof(p->ref.domain) || !domain_valid(name, n))
		return sbx_err_msg(err, EINVAL, "invalid registry domain \"%.*s\"", (int)n, name);
	memcpy(p->ref.domain, name, n);
	p->ref.domain[n] = '\0';
	if (!strcmp(p->ref.domain, LEGACY_DOMAIN))
		strcpy(p->ref.domain, DEFAULT_DOMAIN);
	p->path = slash + 1;
	return 0;
}

/* Docker Hub's official images live under "library/": "python" is "library/python". */
static int set_repository(struct ref_parser *p, struct sbx_error *err)
{
	const char *prefix = "";
	size_t total;
	int r;

	r = check_path(p->path, err);
	if (r < 0)
		return r;
	if (!strcmp(p->ref.domain, DEFAULT_DOMAIN) && !strchr(p->path, '/'))
		prefix = OFFICIAL_PREFIX;
	total = strlen(p->ref.domain) + 1 + strlen(prefix) + strlen(p->path);
	if (total > NAME_MAX_LEN)
		return sbx_err_msg(err, EINVAL, "image name is %zu characters long, more than %d",
				   total, NAME_MAX_LEN);
	snprintf(p->ref.repository, sizeof(p->ref.repository), "%s%s", prefix, p->path);
	return 0;
}

static const ref_step_fn parse_steps[] = {
	check_input, cut_digest, cut_tag, split_domain, set_repository,
};

int img_ref_parse(const char *s, struct img_ref *ret, struct sbx_error *err)
{
	struct ref_parser p = { 0 };
	size_t i;
	int r;

	if (!s)
		return sbx_err_msg(err, EINVAL, "image reference is empty");
	if (strlen(s) > INPUT_MAX_LEN)
		return sbx_err_msg(err, EINVAL, "image reference is longer than %d characters",
				   INPUT_MAX_LEN);
	strcpy(p.buf, s);
	for (i = 0; i < ELEMENTSOF(parse_steps); i++) {
		r = parse_steps[i](&p, err);
		if (r < 0)
			return r;
	}
	if (!p.ref.tag[0] && !p.ref.digest[0])
		strcpy(p.ref.tag, DEFAULT_TAG);
	*ret = p.ref; /* only a whole, checked reference reaches the caller */
	return 0;
}

/* ---- using a parsed reference ------------------------------------------------------------- */

int img_ref_format(const struct img_ref *ref, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "%s/%s%s%s%s%s", ref->domain, ref->repository,
		     ref->tag[0] ? ":" : "", ref->tag, ref->digest[0] ? "@" : "", ref->digest);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENOBUFS;
	return n;
}

/* Docker Hub's name in references is not the host that serves its API. */
const char *img_ref_api_host(const struct img_ref *ref)
{
	if (!strcmp(ref->domain, DEFAULT_DOMAIN))
		return DOCKER_API_HOST;
	return ref->domain;
}

/* Only literal loopback spellings count: "localhost.evil.com" or "127.0.0.1.nip.io" resolve
 * wherever their owner likes, and plain HTTP to them would hand out layers unauthenticated. */
static bool host_is_loopback(const char *host, size_t n)
{
	char lit[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;
	struct in_addr a4;

	if (n == 9 && !strncasecmp(host, "localhost", 9))
		return true;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(lit))
			return false;
		memcpy(lit, host + 1, n - 2);
		lit[n - 2] = '\0';
		return inet_pton(AF_INET6, lit, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if (n >= sizeof(lit))
		return false;
	memcpy(lit, host, n);
	lit[n] = '\0';
	/* inet_pton takes only four decimal octets: no "127.1", no octal or hex forms. */
	return inet_pton(AF_INET, lit, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool img_ref_is_loopback(const struct img_ref *ref)
{
	size_t n = strnlen(ref->domain, sizeof(ref->domain));
	struct hostport hp;

	if (!split_hostport(ref->domain, n, &hp))
		return false;
	if (hp.port && !port_valid(hp.port, hp.port_len))
		return false;
	return host_is_loopback(hp.host, hp.host_len);
}
