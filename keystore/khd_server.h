/*
 * khd_server.h - the Unix socket front end of keyholderd.
 *
 * One thread per connection, each with its own buffers, so a slow or
 * hostile client only ever stalls itself. Limits, each logged when hit:
 * connections in all and per client uid (so one user cannot take every
 * slot), bytes of large-frame buffers in all, the time a started frame may
 * take (I/O timeout) and the time a connection may sit idle between
 * frames (idle timeout).
 */
#ifndef KHD_SERVER_H
#define KHD_SERVER_H

#include "khd_state.h"

struct khd_server_config {
    const char *socket_path;
    const char *socket_group; /* NULL: mode 0600, else 0660 for the group */
    unsigned max_clients;
    unsigned max_clients_per_uid; /* of max_clients, for one client uid */
    int io_timeout_ms;
    int idle_timeout_ms; /* between frames; 0: no limit */
};

/*
 * Binds the socket. Refuses to replace a socket another daemon is serving.
 * Returns the listening fd or a negative KH_ERR_*.
 */
int khd_server_listen(const struct khd_server_config *cfg);

/*
 * Serves |listen_fd| until |stop_fd| becomes readable, then closes every
 * connection, waits for their threads and returns.
 */
int khd_server_run(struct khd_ctx *ctx, const struct khd_server_config *cfg,
                   int listen_fd, int stop_fd);

#endif /* KHD_SERVER_H */
