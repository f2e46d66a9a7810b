/* DNS messages (RFC 1035 and its extensions) as netspyd forwards them: raw bytes from the wire,
 * parsed here, in the unprivileged analyzer, and nowhere else. Every input is hostile: names are
 * bounded, compression pointers must point backwards (no loops), counts are believed only as far
 * as the bytes go, and a message cut short (the daemon copies at most 512 bytes) yields what it
 * holds, marked truncated. Library code: it does not print. */
#ifndef NETSPY_DNS_H
#define NETSPY_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A name in presentation form ("www.example.com"; "." for the root): at most 255 characters,
 * bytes other than letters, digits, '-', '_' and '*' escaped as \DDD (RFC 4343), a longer one cut
 * and marked with a trailing "~". */
#define DNS_NAME_LEN 256
#define DNS_MAX_ANSWERS 16

enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_NS = 2,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_PTR = 12,
	DNS_TYPE_MX = 15,
	DNS_TYPE_TXT = 16,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_SRV = 33,
	DNS_TYPE_OPT = 41,
	DNS_TYPE_SVCB = 64,
	DNS_TYPE_HTTPS = 65,
	DNS_TYPE_ANY = 255,
};

struct dns_answer {
	uint16_t type;
	uint32_t ttl;
	char owner[DNS_NAME_LEN];
	/* Presentation of the data: an address for A/AAAA, a name for CNAME/PTR/NS, "PRIO WEIGHT
	 * PORT TARGET" for SRV, "PRIO TARGET" for SVCB/HTTPS, "PREF NAME" for MX, else "TYPEn". */
	char data[DNS_NAME_LEN + 24];
	uint8_t family; /* AF_INET / AF_INET6 for A / AAAA, else 0 */
	uint8_t addr[16];
};

struct dns_msg {
	uint16_t id;
	bool response; /* QR */
	bool tc;       /* the server truncated it (TC) */
	uint8_t opcode;
	uint16_t rcode; /* with EDNS's extended bits */
	uint16_t qdcount, ancount, nscount, arcount;
	bool has_question;
	char qname[DNS_NAME_LEN];
	uint16_t qtype, qclass;
	size_t n_answers; /* answer-section records kept (at most DNS_MAX_ANSWERS) */
	struct dns_answer answers[DNS_MAX_ANSWERS];
	bool edns;
	uint16_t edns_udp_size;
	bool cut; /* the bytes ended before the counts did (or a record was malformed) */
};

/* Parses one message of len bytes. 0 (possibly with m->cut set), or -EBADMSG when not even the
 * header and, for a query, its question are readable. */
int dns_parse(const uint8_t *p, size_t len, struct dns_msg *m);

/* A TCP segment's payload: messages each behind a 2-byte length. Calls fn for each message that
 * starts in it (a message longer than what is left is parsed as far as it goes, cut). Returns the
 * number of messages, or -EBADMSG when the first one is unreadable. */
int dns_parse_stream(const uint8_t *p, size_t len, void (*fn)(void *ctx, const struct dns_msg *m),
		     void *ctx, struct dns_msg *scratch);

/* "A", "AAAA", "CNAME", ...; "TYPE%u" for others (in buf). */
const char *dns_type_name(uint16_t type, char *buf, size_t len);
/* "NOERROR", "NXDOMAIN", "SERVFAIL", ...; "RCODE%u" for others (in buf). */
const char *dns_rcode_name(uint16_t rcode, char *buf, size_t len);
/* Whether name equals domain or is below it (case-insensitive, a trailing dot ignored). */
bool dns_name_under(const char *name, const char *domain);

#endif
