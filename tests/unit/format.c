/* Unit tests of the terminal sanitizers: fmt_sanitize (analyzer/core/format.c), which every
 * string from the kernel (process names, units) passes through before it reaches a terminal or
 * JSON, and the text filter (analyzer/core/text.c) for model output. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/format.h"
#include "core/text.h"

static const char *sanitize(const char *in, size_t len, size_t outlen)
{
	static char out[256];

	memset(out, 'Z', sizeof(out));
	fmt_sanitize(out, outlen, (const unsigned char *)in, len);
	return out;
}

#define SAN(in) sanitize(in, sizeof(in) - 1, 256)

static void test_sanitize(void)
{
	CHECK(!strcmp(SAN("curl"), "curl"), "plain ASCII is kept");
	CHECK(!strcmp(SAN("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac"),
	      "valid UTF-8 is kept");
	CHECK(!strcmp(SAN("\x1b[31mred"), "\\x1B[31mred"), "ESC becomes \\x1B: no colours");
	CHECK(!strcmp(SAN("a\nb\tc\rd"), "a\\x0Ab\\x09c\\x0Dd"),
	      "newline, tab and carriage return are escaped: one line per name");
	CHECK(!strcmp(SAN("del\x7f"), "del\\x7F"), "DEL is escaped");
	CHECK(!strcmp(SAN("c1\xc2\x9b"), "c1\\u{009B}"), "a C1 control (CSI) is escaped");
	CHECK(!strcmp(SAN("rtl\xe2\x80\xae"
			  "evil"),
		      "rtl\\u{202E}evil"),
	      "a bidirectional override is escaped (no reordered text)");
	CHECK(!strcmp(SAN("iso\xe9"), "iso\\xE9"), "invalid UTF-8 is escaped byte by byte");
	CHECK(!strcmp(SAN("\xc0\xaf"), "\\xC0\\xAF"), "an overlong encoding is invalid");
	CHECK(!strcmp(SAN("\xed\xa0\x80"), "\\xED\\xA0\\x80"), "a UTF-16 surrogate is invalid");
	CHECK(!strcmp(SAN("back\\slash"), "back\\\\slash"),
	      "a backslash is doubled, so that escapes cannot be forged");
	CHECK(!strcmp(sanitize("comm\0junk", 9, 256), "comm"), "a NUL ends a kernel string");
	CHECK(!strcmp(sanitize("abcdefgh", 8, 5), "abcd"), "output is cut to fit, NUL-terminated");
	CHECK(!strcmp(sanitize("ab\x1b", 3, 5), "ab"),
	      "an escape that does not fit whole is left out, not cut in half");
	CHECK(sanitize("x", 1, 0)[0] == 'Z', "a zero-sized buffer is not written");
}

static void test_text_filter(void)
{
	const char in[] = "ok \x1b]0;title\x07 \x1b[2J\x1b[1mbold\x1b[0m\x9b\r\nline2\tend\x7f";
	char *out = text_clean(in, sizeof(in) - 1);
	struct text_filter f;
	char buf[64];
	size_t n;

	CHECK(out && !strcmp(out, "ok  bold\nline2\tend"),
	      "model text loses escape sequences (OSC title, CSI), C1, CR and DEL; newline and tab "
	      "stay");
	free(out);
	text_filter_init(&f);
	n = text_filter_run(&f, "a\x1b[3", 4, buf);
	n += text_filter_run(&f, "1mb", 3, buf + n);
	buf[n] = 0;
	CHECK(!strcmp(buf, "ab"), "an escape split between pieces is still removed (%s)", buf);
}

int main(void)
{
	test_sanitize();
	test_text_filter();
	return CHECK_DONE();
}
