/* Dropping every capability once the privileged setup is done. */
#ifndef NETSPYD_CAPS_H
#define NETSPYD_CAPS_H

/* Clears the effective, permitted, inheritable and ambient sets (and the bounding set where
 * allowed) and sets no_new_privs. Returns 0 or -errno. */
int caps_drop_all(void);
/* True when the effective set is empty. */
int caps_effective_empty(void);

#endif
