package clientflags

import (
	"math"
	"strconv"
	"strings"
)

// The C tools convert numbers with atoi/atol/atof/strtol, which accept a
// numeric prefix and ignore the rest ("5x" is 5, "x" is 0). These helpers
// keep that behaviour so the same command lines are accepted and rejected.

func skipSpace(s string) string {
	return strings.TrimLeft(s, " \t\n\v\f\r")
}

// atol parses an optional sign and leading decimal digits, saturating.
func atol(s string) int64 {
	s = skipSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if v > (math.MaxInt64-9)/10 {
			v = math.MaxInt64
			break
		}
		v = v*10 + int64(s[i]-'0')
	}
	if neg {
		return -v
	}
	return v
}

// atoi is atol truncated to a C int (32 bits), as glibc's atoi does.
func atoi(s string) int {
	return int(int32(atol(s)))
}

// atof parses the longest decimal floating point prefix; 0 if none.
func atof(s string) float64 {
	s = skipSpace(s)
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	digits := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
		digits++
	}
	if end < len(s) && s[end] == '.' {
		end++
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
			digits++
		}
	}
	if digits == 0 {
		return 0
	}
	if end < len(s) && (s[end] == 'e' || s[end] == 'E') {
		j := end + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			end = k
		}
	}
	v, _ := strconv.ParseFloat(strings.TrimSuffix(s[:end], "."), 64)
	return v
}

// strtolWhole is strtol(s, &end, 0) that must consume all of s: decimal,
// 0x hexadecimal or 0 octal, with an optional sign.
func strtolWhole(s string) (int64, bool) {
	t := skipSpace(s)
	u := strings.TrimLeft(t, "+-")
	hex := strings.HasPrefix(u, "0x") || strings.HasPrefix(u, "0X")
	// Go's base-0 syntax is wider than C's: no 0b, 0o or digit separators.
	if t == "" || strings.Contains(t, "_") || (!hex && strings.ContainsAny(u, "oObB")) {
		return 0, false
	}
	v, err := strconv.ParseInt(t, 0, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			if strings.HasPrefix(t, "-") {
				return math.MinInt64, true
			}
			return math.MaxInt64, true
		}
		return 0, false
	}
	return v, true
}
