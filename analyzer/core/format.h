/* Presenting events: addresses, names and times as people and JSON expect them, with every string
 * that came from the kernel made safe for terminals and valid as UTF-8. */
#ifndef NETSPY_FORMAT_H
#define NETSPY_FORMAT_H

#include <stdint.h>
#include <stdio.h>
#include <json-c/json.h>

#include "frame.h"

#define FMT_ADDR_LEN 64
#define FMT_TIME_LEN 40
/* Worst case of fmt_sanitize for a comm: every byte escaped as \xNN. */
#define FMT_COMM_LEN (NETSPY_COMM_LEN * 4 + 1)

/* "127.0.0.1", "::1"; "" for an empty address. */
void fmt_addr(char *buf, size_t len, uint32_t family, const ProtobufCBinaryData *a);
/* Copies in to out as printable, valid UTF-8: control characters, bidirectional overrides and
 * invalid UTF-8 become \xNN (or \u{NNNN}) escapes. Always NUL-terminates. */
void fmt_sanitize(char *out, size_t outlen, const uint8_t *in, size_t inlen);
/* RFC 3339 in UTC with microseconds: 2026-11-21T08:14:05.123456Z */
void fmt_rfc3339(char *buf, size_t len, uint64_t ns);
/* Local wall-clock time of day, 08:14:05 */
void fmt_clock(char *buf, size_t len, uint64_t ns);
const char *fmt_protocol(uint32_t ip_proto); /* "TCP", "UDP", "ICMP", ... or "IP" */
const char *fmt_family(uint32_t family);     /* "IPv4", "IPv6" or "unknown" */
/* Outcome names: 0-7 as netspy.v1.Outcome (0 = pending), then FMT_OUTCOME_SENT for a connect that
 * has no outcome to wait for (UDP); anything else is "error". The one table of these names. */
#define FMT_OUTCOME_SENT 8
#define FMT_N_OUTCOMES 9
/* The names in that order, as an X-macro (FIRST for the first name, REST for the others):
 * fmt_outcome()'s table and the JSON Schema enum of the tools' "outcome" fields are both made
 * from it. */
#define FMT_OUTCOME_NAMES(FIRST, REST)                                                          \
	FIRST(pending)                                                                          \
	REST(established) REST(refused) REST(timeout) REST(unreachable) REST(reset) REST(error) \
	    REST(aborted) REST(sent)
#define FMT_OUTCOME_JSON_FIRST_(n) "\"" #n "\""
#define FMT_OUTCOME_JSON_REST_(n) ",\"" #n "\""
#define FMT_OUTCOME_ENUM_JSON \
	"[" FMT_OUTCOME_NAMES(FMT_OUTCOME_JSON_FIRST_, FMT_OUTCOME_JSON_REST_) "]"
const char *fmt_outcome(int outcome); /* "established", "refused", ... */
const char *fmt_errno_name(int err);  /* "ENETUNREACH", ...; NULL when not an errno */

/* How a TCP connection ended, 0-4 as netspy.v1.TcpEndKind with 0 = "open" (still open). */
#define FMT_N_ENDS 5
#define FMT_END_ENUM_JSON "[\"open\",\"closed\",\"reset_sent\",\"reset_received\",\"timeout\"]"
const char *fmt_end(int end); /* "open", "closed", "reset_sent", ... */

/* One JSON object for an event, for `watch --json` and tests. */
json_object *event_to_json(const Netspy__V1__Event *ev);
/* One readable line for an event, for `watch`. */
void event_print_line(FILE *f, const Netspy__V1__Event *ev);

#endif
