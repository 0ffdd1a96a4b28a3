package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// credential is who -Z makes memifdump: the user, its primary group and
// its supplementary groups.
type credential struct {
	name   string
	uid    int
	gid    int
	groups []int
}

// lookupCredential finds a user by name (or number) in the user database:
// /etc/passwd and /etc/group, read in Go (no cgo, so no NSS modules).
func lookupCredential(name string) (*credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr != nil {
			return nil, err
		}
		if u, err = user.LookupId(name); err != nil {
			return nil, err
		}
	}
	c := &credential{name: name}
	if c.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("user id %q is not a number", u.Uid)
	}
	if c.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("group id %q is not a number", u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	for _, id := range ids {
		g, err := strconv.Atoi(id)
		if err != nil {
			return nil, fmt.Errorf("group id %q is not a number", id)
		}
		c.groups = append(c.groups, g)
	}
	return c, nil
}

// dropPrivileges becomes c for good, as tcpdump -Z does once its capture
// and output file are open: the supplementary groups first, then the
// group, then the user (after setuid the others would be refused). It
// does nothing for a nil c. Everything opened before stays usable; what
// is opened after is opened as c: a client reconnecting to a socket only
// root may use, a -C or -G file in a directory only root may write, and
// the removal of a server's socket at exit then fail.
func dropPrivileges(c *credential) error {
	if c == nil {
		return nil
	}
	if err := setCredential(c); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("-Z %s: %w (only root can change its user)", c.name, err)
		}
		return fmt.Errorf("-Z %s: %w", c.name, err)
	}
	return nil
}
