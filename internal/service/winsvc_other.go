//go:build !windows

package service

import (
	"io"
	"os"
)

// WindowsCommand: install, uninstall and run are Windows service commands.
func WindowsCommand([]string, io.Writer, io.Writer) (int, bool) { return 0, false }

// attachService: only Windows runs the broker as a service of its own.
func attachService(chan<- os.Signal) {}
