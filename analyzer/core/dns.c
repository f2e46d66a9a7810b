/* The DNS message parser: bounded reads only, compression pointers strictly backwards. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/dns.h"

#define MAX_POINTERS 64 /* more than any real name needs (127 labels at most) */

struct rd {
	const uint8_t *p;
	size_t len, off;
};

static bool get16(struct rd *r, uint16_t *v)
{
	if (r->len - r->off < 2 || r->off > r->len)
		return false;
	*v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return true;
}

static bool get32(struct rd *r, uint32_t *v)
{
	uint16_t hi, lo;

	if (!get16(r, &hi) || !get16(r, &lo))
		return false;
	*v = (uint32_t)hi << 16 | lo;
	return true;
}

static void put_char(char *out, size_t *n, uint8_t c)
{
	bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '-' || c == '_' || c == '*';

	if (plain) {
		if (*n + 1 < DNS_NAME_LEN - 1)
			out[(*n)++] = (char)c;
		else
			*n = DNS_NAME_LEN; /* mark as cut */
		return;
	}
	if (*n + 4 < DNS_NAME_LEN - 1) {
		snprintf(out + *n, 5, "\\%03u", c);
		*n += 4;
	} else {
		*n = DNS_NAME_LEN;
	}
}

/* Reads a name at r->off (advancing past it, not past what pointers point to) into out. A pointer
 * must point before the label that holds it: names cannot loop. */
static bool get_name(struct rd *r, char *out)
{
	size_t pos = r->off, n = 0, wire = 0, end = 0;
	size_t limit = r->off; /* pointers must go below this */
	int pointers = 0;
	bool jumped = false;

	out[0] = 0;
	for (;;) {
		uint8_t l;

		if (pos >= r->len)
			return false;
		l = r->p[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= r->len)
				return false;
			to = (size_t)(l & 0x3f) << 8 | r->p[pos + 1];
			if (!jumped)
				end = pos + 2;
			if (to >= limit || ++pointers > MAX_POINTERS)
				return false;
			limit = to;
			pos = to;
			jumped = true;
			continue;
		}
		if (l & 0xc0) /* 0x40, 0x80: extended label types, obsolete */
			return false;
		if (l == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if (pos + 1 + l > r->len)
			return false;
		wire += (size_t)l + 1;
		if (wire > 255)
			return false;
		if (wire != (size_t)l + 1 && n < DNS_NAME_LEN) { /* not the first label */
			if (n + 1 < DNS_NAME_LEN - 1)
				out[n++] = '.';
			else
				n = DNS_NAME_LEN;
		}
		for (size_t i = 0; i < l && n < DNS_NAME_LEN; i++)
			put_char(out, &n, r->p[pos + 1 + i]);
		pos += 1 + (size_t)l;
	}
	if (n >= DNS_NAME_LEN) { /* cut: keep what fits, say so */
		n = DNS_NAME_LEN - 2;
		out[n++] = '~';
	}
	if (n == 0)
		out[n++] = '.';
	out[n] = 0;
	r->off = end;
	return true;
}

static void answer_data(struct rd *r, size_t rdstart, uint16_t rdlen, struct dns_answer *a)
{
	struct rd sub = { r->p, rdstart + rdlen, rdstart };
	char name[DNS_NAME_LEN];
	uint16_t x, y, z;

	switch (a->type) {
	case DNS_TYPE_A:
		if (rdlen != 4)
			break;
		a->family = AF_INET;
		memcpy(a->addr, r->p + rdstart, 4);
		inet_ntop(AF_INET, a->addr, a->data, sizeof(a->data));
		return;
	case DNS_TYPE_AAAA:
		if (rdlen != 16)
			break;
		a->family = AF_INET6;
		memcpy(a->addr, r->p + rdstart, 16);
		inet_ntop(AF_INET6, a->addr, a->data, sizeof(a->data));
		return;
	case DNS_TYPE_CNAME:
	case DNS_TYPE_PTR:
	case DNS_TYPE_NS:
		/* The name may point anywhere before it in the whole message. */
		sub.len = r->len < rdstart + rdlen ? r->len : rdstart + rdlen;
		if (get_name(&sub, name)) {
			snprintf(a->data, sizeof(a->data), "%s", name);
			return;
		}
		break;
	case DNS_TYPE_MX:
		if (get16(&sub, &x) && get_name(&sub, name)) {
			snprintf(a->data, sizeof(a->data), "%u %s", x, name);
			return;
		}
		break;
	case DNS_TYPE_SRV:
		if (get16(&sub, &x) && get16(&sub, &y) && get16(&sub, &z) && get_name(&sub, name)) {
			snprintf(a->data, sizeof(a->data), "%u %u %u %s", x, y, z, name);
			return;
		}
		break;
	case DNS_TYPE_SVCB:
	case DNS_TYPE_HTTPS:
		if (get16(&sub, &x) && get_name(&sub, name)) {
			snprintf(a->data, sizeof(a->data), "%u %s", x, name);
			return;
		}
		break;
	default:
		break;
	}
	snprintf(a->data, sizeof(a->data), "%s", dns_type_name(a->type, name, sizeof(name)));
}

int dns_parse(const uint8_t *p, size_t len, struct dns_msg *m)
{
	struct rd r = { p, len, 0 };
	uint16_t flags, counts[3];
	uint8_t ext_rcode = 0;

	memset(m, 0, sizeof(*m));
	if (!get16(&r, &m->id) || !get16(&r, &flags) || !get16(&r, &m->qdcount) ||
	    !get16(&r, &m->ancount) || !get16(&r, &m->nscount) || !get16(&r, &m->arcount))
		return -EBADMSG;
	m->response = flags & 0x8000;
	m->opcode = (uint8_t)((flags >> 11) & 0xf);
	m->tc = flags & 0x0200;
	m->rcode = flags & 0xf;
	if (m->qdcount) {
		if (!get_name(&r, m->qname) || !get16(&r, &m->qtype) || !get16(&r, &m->qclass)) {
			if (!m->response)
				return -EBADMSG;
			m->cut = true;
			return 0;
		}
		m->has_question = true;
		/* Further questions (never seen in practice) are skipped. */
		for (uint16_t i = 1; i < m->qdcount; i++) {
			char skip[DNS_NAME_LEN];
			uint16_t t, c;

			if (!get_name(&r, skip) || !get16(&r, &t) || !get16(&r, &c)) {
				m->cut = true;
				return 0;
			}
		}
	}
	counts[0] = m->ancount;
	counts[1] = m->nscount;
	counts[2] = m->arcount;
	/* Counts are believed only as far as the bytes go: each record needs at least 11. */
	for (int sec = 0; sec < 3; sec++) {
		for (uint32_t i = 0; i < counts[sec]; i++) {
			struct dns_answer tmp, *a = &tmp;
			uint16_t type, cls, rdlen;
			uint32_t ttl;
			size_t rdstart;

			if (sec == 0 && m->n_answers < DNS_MAX_ANSWERS)
				a = &m->answers[m->n_answers];
			memset(a, 0, sizeof(*a));
			if (!get_name(&r, a->owner) || !get16(&r, &type) || !get16(&r, &cls) ||
			    !get32(&r, &ttl) || !get16(&r, &rdlen) || r.len - r.off < rdlen) {
				m->cut = true;
				goto done;
			}
			rdstart = r.off;
			r.off += rdlen;
			if (type == DNS_TYPE_OPT) {
				m->edns = true;
				m->edns_udp_size = cls;
				ext_rcode = (uint8_t)(ttl >> 24);
				continue;
			}
			if (sec != 0)
				continue;
			a->type = type;
			a->ttl = ttl & 0x80000000u ? 0 : ttl; /* RFC 2181: a TTL above 2^31 is 0 */
			answer_data(&r, rdstart, rdlen, a);
			if (a == &m->answers[m->n_answers])
				m->n_answers++;
		}
	}
done:
	m->rcode = (uint16_t)(ext_rcode << 4 | m->rcode);
	return 0;
}

int dns_parse_stream(const uint8_t *p, size_t len, void (*fn)(void *ctx, const struct dns_msg *m),
		     void *ctx, struct dns_msg *scratch)
{
	size_t off = 0;
	int n = 0;

	while (len - off >= 2) {
		size_t l = (size_t)p[off] << 8 | p[off + 1], avail = len - off - 2;

		if (l < 12) /* not even a header: not a message boundary */
			break;
		if (dns_parse(p + off + 2, l < avail ? l : avail, scratch) < 0)
			break;
		if (l > avail)
			scratch->cut = true;
		fn(ctx, scratch);
		n++;
		if (l >= avail)
			break;
		off += 2 + l;
	}
	return n ? n : -EBADMSG;
}

const char *dns_type_name(uint16_t type, char *buf, size_t len)
{
	switch (type) {
	case DNS_TYPE_A: return "A";
	case DNS_TYPE_NS: return "NS";
	case DNS_TYPE_CNAME: return "CNAME";
	case DNS_TYPE_SOA: return "SOA";
	case DNS_TYPE_PTR: return "PTR";
	case DNS_TYPE_MX: return "MX";
	case DNS_TYPE_TXT: return "TXT";
	case DNS_TYPE_AAAA: return "AAAA";
	case DNS_TYPE_SRV: return "SRV";
	case DNS_TYPE_OPT: return "OPT";
	case DNS_TYPE_SVCB: return "SVCB";
	case DNS_TYPE_HTTPS: return "HTTPS";
	case DNS_TYPE_ANY: return "ANY";
	default:
		snprintf(buf, len, "TYPE%u", type);
		return buf;
	}
}

const char *dns_rcode_name(uint16_t rcode, char *buf, size_t len)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP",	"REFUSED", "YXDOMAIN", "YXRRSET",
					     "NXRRSET", "NOTAUTH", "NOTZONE" };

	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	if (rcode == 16)
		return "BADVERS";
	snprintf(buf, len, "RCODE%u", rcode);
	return buf;
}

bool dns_name_under(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n && name[n - 1] == '.')
		n--;
	if (d && domain[d - 1] == '.')
		d--;
	if (!d)
		return true;
	if (n < d || strncasecmp(name + n - d, domain, d))
		return false;
	return n == d || name[n - d - 1] == '.';
}
