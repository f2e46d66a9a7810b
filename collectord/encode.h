/* Turning ring-buffer records into protocol messages. */
#ifndef NETSPYD_ENCODE_H
#define NETSPYD_ENCODE_H

#include <stdint.h>

#include "frame.h"
#include "netspy.h"

struct dropnames;

/* Storage for one encoded event: the message points into it and into the source record. */
struct event_scratch {
	Netspy__V1__Event ev;
	union {
		Netspy__V1__Connect connect;
		Netspy__V1__TcpOutcome outcome;
		Netspy__V1__Drop drop;
	};
	char reason_buf[32];
};

/* Fills s so that &s->ev describes src (valid while src and s live). */
Netspy__V1__Event *encode_event(struct event_scratch *s, const struct netspy_event *src,
				uint64_t seq, const struct dropnames *names);

#endif
