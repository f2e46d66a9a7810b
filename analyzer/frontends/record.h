/* netspyctl record: the recorder service. It subscribes to netspyd (replaying what the daemon still
 * holds since the last minute stored), rolls events up per minute into the history database
 * (core/history.h) and serves Prometheus metrics over HTTP (libmicrohttpd). */
#ifndef NETSPY_RECORD_H
#define NETSPY_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#define RECORD_DEFAULT_STATE_DIR "/var/lib/netspy"
#define RECORD_DEFAULT_LISTEN "127.0.0.1:9464"
#define RECORD_DEFAULT_RETENTION_DAYS 7
#define RECORD_DEFAULT_MAX_SIZE (256ull << 20)
#define RECORD_DEFAULT_MAX_KEYS 1000
#define RECORD_DEFAULT_MAX_SERIES 1000

/* journald MESSAGE_IDs of the recorder's notable records (docs/history.md lists them). */
#define RECORD_MSGID_CORRUPT "774081282d1747edbcfc2ce12e28fe33"
#define RECORD_MSGID_STARTED "9491d0b9929b43b6b1d4b9417a4d7e9e"
#define RECORD_MSGID_WRITE_FAILED "04e184a8c2c34f0683a9f030afa08d85"
/* One per find_anomalies finding (kind, process, unit, destination and evidence as fields). */
#define RECORD_MSGID_ANOMALY "7f1ebd95b1a04b0a8ed3f17bd0f12fb4"
#define RECORD_DEFAULT_ANOMALY_INTERVAL 60
#define RECORD_DEFAULT_ANOMALY_WINDOW 300

struct record_opts {
	const char *socket;	    /* netspyd's socket (NULL: default) */
	const char *state_dir;	    /* holds history.db */
	const char *metrics_listen; /* ADDR:PORT, or "none" */
	const char *metrics_socket; /* a Unix socket path for /metrics, or NULL */
	unsigned retention_days;
	uint64_t max_size;
	unsigned max_keys, max_series;
	unsigned grace_s; /* an event is rolled up once this old (default 15) */
	/* The HTTP + JSON API (frontends/api.h): its Unix socket (NULL: none; the default is best
	 * effort unless given), TCP ADDR:PORT (NULL: none) with its token file, the AI tools. */
	const char *api_socket;
	bool api_socket_given;
	const char *api_listen, *api_token_file;
	bool api_ai;
	/* find_anomalies runs every anomaly_interval_s seconds (0: never) over the last
	 * anomaly_window_s seconds; each finding is journaled at most once per the longer of
	 * the two. */
	unsigned anomaly_interval_s, anomaly_window_s;
};

/* Parses `netspyctl record`'s options (argv[0] is the command's name). 0, or 1 on a usage error
 * (printed), 2 for --help (printed). */
int record_parse(int argc, char **argv, struct record_opts *ret);
/* Runs until SIGTERM/SIGINT; returns netspyctl's exit code. */
int record_main(const struct record_opts *o);

#endif
