//go:build !linux

package service

// sdNotify: systemd is Linux only.
func sdNotify(string) {}

func sdReloading() string { return "" }
