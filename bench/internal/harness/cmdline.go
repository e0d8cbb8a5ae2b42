package harness

import (
	"os"
	"strings"
)

// CommandLine is how this run was started, for the report, as program
// (for instance "go run ./bench/compare") and its arguments. The flags
// that name files on this machine (-midge, -mosquitto, -out) are left out:
// they do not change the figures, and the report may be committed.
func CommandLine(program string) string {
	args := []string{program}
	for i := 1; i < len(os.Args); i++ {
		a := os.Args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "midge" || name == "mosquitto" || name == "out") {
			if !hasValue {
				i++ // the value is the next argument
			}
			continue
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}
