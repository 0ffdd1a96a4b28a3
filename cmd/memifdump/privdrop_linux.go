package main

import (
	"os"
	"syscall"
)

// setCredential changes the credentials of every thread of the process:
// since Go 1.16 syscall's Setgroups, Setgid and Setuid apply to all
// threads on Linux (the kernel's calls change only the calling thread).
func setCredential(c *credential) error {
	if os.Geteuid() != 0 && os.Getuid() == c.uid && os.Geteuid() == c.uid && os.Getgid() == c.gid {
		return nil // already that user, and not allowed to set groups
	}
	if err := syscall.Setgroups(c.groups); err != nil {
		return os.NewSyscallError("setgroups", err)
	}
	if err := syscall.Setgid(c.gid); err != nil {
		return os.NewSyscallError("setgid", err)
	}
	if err := syscall.Setuid(c.uid); err != nil {
		return os.NewSyscallError("setuid", err)
	}
	return nil
}
