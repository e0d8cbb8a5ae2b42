//go:build !linux

package harness

import "syscall"

// dieWithParent: only Linux can tie a child's life to its parent's; a
// benchmark killed elsewhere may leave its brokers running.
func dieWithParent() *syscall.SysProcAttr { return nil }
