package harness

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine returns the lines that say where and with what the figures
// were measured: date, CPU, memory, kernel, Go and the brokers' versions.
func Machine(specs []Spec) []string {
	lines := []string{
		fmt.Sprintf("date: %s", time.Now().UTC().Format("2006-01-02 15:04 MST")),
		fmt.Sprintf("CPU: %s, %d cores", CPUModel(), runtime.NumCPU()),
		fmt.Sprintf("memory: %s", MemTotal()),
		fmt.Sprintf("kernel: Linux %s", readTrimmed("/proc/sys/kernel/osrelease")),
		fmt.Sprintf("Go: %s", runtime.Version()),
	}
	for _, spec := range specs {
		lines = append(lines, spec.Name+": "+spec.Version())
	}
	return lines
}

// CPUModel is the model name of the first processor in /proc/cpuinfo.
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// MemTotal is the machine's memory, from /proc/meminfo.
func MemTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
			if f := strings.Fields(v); len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return "unknown"
}

func readTrimmed(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}
