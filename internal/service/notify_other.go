//go:build !linux && !windows

package service

// sdNotify: systemd is Linux only (Windows: winsvc_windows.go).
func sdNotify(string) {}

func sdReloading() string { return "" }
