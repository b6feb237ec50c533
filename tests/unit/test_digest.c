/* SPDX-License-Identifier: MIT */
/* test_digest.c - SHA-256 against published vectors, streaming equal to one-shot, whole files
 * by fd, the state's lifetime, and the digest spelling the store accepts as a file name. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rootfs.h"
#include "unit.h"
#include "util.h"

#define SHA_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC	  "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX64	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX63	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"

/* Hash buf in one update; "" if init failed. */
static void sha_once(const void *buf, size_t len, char out[IMG_DIGEST_LEN + 1])
{
	struct img_sha256 h;
	struct sbx_error err = { 0 };

	out[0] = '\0';
	if (img_sha256_init(&h, &err) < 0)
		return;
	img_sha256_update(&h, buf, len);
	img_sha256_final(&h, out);
}

/* Deterministic, non-repeating bytes so chunk-boundary mistakes change the digest. */
static unsigned char *make_data(size_t len)
{
	unsigned char *p = malloc(len ? len : 1);
	unsigned x = 2463534242u;
	size_t i;

	for (i = 0; p && i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

TEST(known_vectors)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "", SHA_EMPTY },
		{ "abc", SHA_ABC },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	char out[IMG_DIGEST_LEN + 1];
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		sha_once(cases[i].in, strlen(cases[i].in), out);
		CHECK_STREQ(out, cases[i].want);
		CHECK(img_digest_valid(out));
	}
}

/* FIPS 180-2's long vector: one million 'a', fed 1000 at a time. */
TEST(million_a)
{
	struct img_sha256 h;
	struct sbx_error err = { 0 };
	char chunk[1000], out[IMG_DIGEST_LEN + 1];
	int i;

	memset(chunk, 'a', sizeof(chunk));
	CHECK(img_sha256_init(&h, &err) == 0);
	for (i = 0; i < 1000; i++)
		img_sha256_update(&h, chunk, sizeof(chunk));
	img_sha256_final(&h, out);
	CHECK_STREQ(out, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(chunked_equals_one_shot)
{
	static const size_t steps[] = { 1, 7, 63, 64, 65, 4096, 65536, 65537, 100000 };
	const size_t len = 300000;
	_cleanup_free_ unsigned char *data = make_data(len);
	char once[IMG_DIGEST_LEN + 1], chunked[IMG_DIGEST_LEN + 1];
	struct sbx_error err = { 0 };
	struct img_sha256 h;
	size_t i, off, n;

	CHECK(data != NULL);
	if (!data)
		return;
	sha_once(data, len, once);
	CHECK(img_digest_valid(once));
	for (i = 0; i < ELEMENTSOF(steps); i++) {
		CHECK(img_sha256_init(&h, &err) == 0);
		img_sha256_update(&h, data, 0); /* empty updates change nothing */
		for (off = 0; off < len; off += n) {
			n = len - off < steps[i] ? len - off : steps[i];
			img_sha256_update(&h, data + off, n);
		}
		img_sha256_final(&h, chunked);
		CHECK(h.md == NULL);
		if (strcmp(once, chunked))
			fprintf(stderr, "  step %zu differs\n", steps[i]);
		CHECK_STREQ(chunked, once);
	}
}

/* An unlinked temp file holding len bytes of make_data(), offset left at the end. */
static int temp_file_with(const unsigned char *data, size_t len)
{
	char path[] = "/tmp/sbx-test-digest-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd < 0)
		return -1;
	unlink(path);
	if (len && sbx_write_all(fd, data, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

TEST(fd_digest_matches_memory)
{
	/* empty, under one chunk, exactly two chunks, several chunks and a partial one */
	static const size_t sizes[] = { 0, 3, 65535, 65536, 131072, 200001 };
	char want[IMG_DIGEST_LEN + 1], got[IMG_DIGEST_LEN + 1];
	struct sbx_error err = { 0 };
	size_t i;

	for (i = 0; i < ELEMENTSOF(sizes); i++) {
		_cleanup_free_ unsigned char *data = make_data(sizes[i]);
		_cleanup_close_ int fd = temp_file_with(data, sizes[i]);
		off_t before;

		CHECK(fd >= 0);
		if (fd < 0)
			continue;
		before = lseek(fd, 0, SEEK_CUR);
		sha_once(data, sizes[i], want);
		CHECK(img_sha256_fd(fd, got, &err) == 0);
		CHECK_STREQ(got, want);
		CHECK(lseek(fd, 0, SEEK_CUR) == before); /* pread: the caller's offset is kept */
	}
}

TEST(fd_digest_of_abc_file)
{
	_cleanup_close_ int fd = temp_file_with((const unsigned char *)"abc", 3);
	char out[IMG_DIGEST_LEN + 1];
	struct sbx_error err = { 0 };

	CHECK(fd >= 0);
	CHECK(img_sha256_fd(fd, out, &err) == 0);
	CHECK_STREQ(out, SHA_ABC);
}

TEST(fd_digest_errors)
{
	char out[IMG_DIGEST_LEN + 1] = "x";
	struct sbx_error err = { 0 };
	_cleanup_close_ int dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(img_sha256_fd(-1, out, &err) == -EBADF);
	CHECK(err.code == EBADF);
	CHECK(strstr(err.msg, "sha256") != NULL);
	CHECK_STREQ(out, "");
	CHECK(dir >= 0);
	memset(&err, 0, sizeof(err));
	strcpy(out, "x");
	CHECK(img_sha256_fd(dir, out, &err) == -EISDIR);
	CHECK(err.code == EISDIR);
	CHECK_STREQ(out, "");
	CHECK(img_sha256_fd(-1, out, NULL) == -EBADF); /* err is optional */
}

TEST(done_is_idempotent_and_null_safe)
{
	struct img_sha256 h = { 0 };
	struct sbx_error err = { 0 };
	char out[IMG_DIGEST_LEN + 1];

	img_sha256_done(NULL);
	img_sha256_done(&h); /* never initialised (zeroed) */
	CHECK(img_sha256_init(&h, &err) == 0);
	CHECK(h.md != NULL);
	img_sha256_update(&h, "abc", 3);
	img_sha256_done(&h);
	CHECK(h.md == NULL);
	img_sha256_done(&h);
	CHECK(h.md == NULL);

	CHECK(img_sha256_init(&h, &err) == 0);
	img_sha256_final(&h, out);
	CHECK_STREQ(out, SHA_EMPTY);
	CHECK(h.md == NULL); /* final freed it: done() after final is a no-op */
	img_sha256_done(&h);

	/* a state without a context fails closed: "" is never a valid digest */
	img_sha256_update(&h, "abc", 3);
	img_sha256_final(&h, out);
	CHECK_STREQ(out, "");
}

TEST(cleanup_attribute_frees)
{
	struct sbx_error err = { 0 };

	for (int i = 0; i < 3; i++) {
		_cleanup_(img_sha256_done) struct img_sha256 h = { 0 };

		CHECK(img_sha256_init(&h, &err) == 0);
		img_sha256_update(&h, "leak check", 10); /* ASan reports if scope exit leaks */
	}
}

TEST(digest_validation_table)
{
	static const struct {
		const char *in;
		bool ok;
	} cases[] = {
		{ "sha256:" HEX64, true },
		{ SHA_EMPTY, true },
		{ SHA_ABC, true },
		{ "sha256:" HEX64 "\n", false }, /* trailing newline */
		{ "sha256:" HEX64 "0", false },	 /* 65 hex */
		{ "sha256:" HEX64 "/", false },	 /* path tail */
		{ "sha256:" HEX64 " ", false },	 /* trailing space */
		{ "sha256:" HEX63, false },	 /* 63 hex */
		{ "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		  false }, /* uppercase */
		{ "sha256:g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		  false }, /* non-hex */
		{ "sha256:../../../../../../etc/passwd0123456789abcdef0123456789abcdef0", false },
		{ "sha256:", false },
		{ "sha256", false },
		{ "", false },
		{ "SHA256:" HEX64, false },  /* prefix is case-sensitive */
		{ "sha512:" HEX64, false },  /* wrong algorithm */
		{ "sha256-" HEX64, false },  /* wrong separator */
		{ " sha256:" HEX64, false }, /* leading space */
		{ HEX64, false },	     /* no prefix */
		{ "sha256::" HEX64, false },
		{ NULL, false },
	};
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		bool got = img_digest_valid(cases[i].in);

		if (got != cases[i].ok)
			fprintf(stderr, "  case %zu \"%s\": got %d\n", i,
				cases[i].in ? cases[i].in : "(null)", got);
		CHECK(got == cases[i].ok);
	}
}

TEST(uppercase_variant_of_valid_is_refused)
{
	char s[IMG_DIGEST_LEN + 1] = SHA_ABC;
	size_t i;

	/* every single-letter case flip of a valid digest is refused */
	for (i = 7; i < IMG_DIGEST_LEN; i++) {
		char c = s[i];

		if (c < 'a' || c > 'f')
			continue;
		s[i] = (char)(c - 'a' + 'A');
		CHECK(!img_digest_valid(s));
		s[i] = c;
	}
	CHECK(img_digest_valid(s));
}

int main(void)
{
	RUN(known_vectors);
	RUN(million_a);
	RUN(chunked_equals_one_shot);
	RUN(fd_digest_matches_memory);
	RUN(fd_digest_of_abc_file);
	RUN(fd_digest_errors);
	RUN(done_is_idempotent_and_null_safe);
	RUN(cleanup_attribute_frees);
	RUN(digest_validation_table);
	RUN(uppercase_variant_of_valid_is_refused);
	UNIT_END();
}
