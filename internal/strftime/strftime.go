// Package strftime formats times with C's strftime conversion
// specifications, as Mosquitto's log_timestamp_format and mosquitto_sub's
// -F @ time specifiers do.
package strftime

import (
	"strconv"
	"time"
)

var (
	shortDays   = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays    = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	shortMonths = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonths  = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// Format appends t formatted by the C-locale strftime format f to dst.
// Unknown conversions are copied as they are, as glibc does.
func Format(dst []byte, f string, t time.Time) []byte {
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 == len(f) {
			dst = append(dst, c)
			continue
		}
		i++
		// glibc's E and O modifiers select alternative representations,
		// which the C locale does not have.
		if (f[i] == 'E' || f[i] == 'O') && i+1 < len(f) {
			i++
		}
		dst = AppendConversion(dst, f[i], t)
	}
	return dst
}

// AppendConversion appends the one conversion %c of t to dst, for callers
// that parse their own format strings (mosquitto_sub's -F @c).
func AppendConversion(dst []byte, c byte, t time.Time) []byte {
	switch c {
	case 'a':
		return append(dst, shortDays[t.Weekday()]...)
	case 'A':
		return append(dst, longDays[t.Weekday()]...)
	case 'b', 'h':
		return append(dst, shortMonths[t.Month()-1]...)
	case 'B':
		return append(dst, longMonths[t.Month()-1]...)
	case 'c':
		return Format(dst, "%a %b %e %H:%M:%S %Y", t)
	case 'C':
		return pad(dst, t.Year()/100, 2, '0')
	case 'd':
		return pad(dst, t.Day(), 2, '0')
	case 'D':
		return Format(dst, "%m/%d/%y", t)
	case 'e':
		return pad(dst, t.Day(), 2, ' ')
	case 'F':
		return Format(dst, "%Y-%m-%d", t)
	case 'g':
		y, _ := t.ISOWeek()
		return pad(dst, y%100, 2, '0')
	case 'G':
		y, _ := t.ISOWeek()
		return strconv.AppendInt(dst, int64(y), 10)
	case 'H':
		return pad(dst, t.Hour(), 2, '0')
	case 'I':
		return pad(dst, hour12(t), 2, '0')
	case 'j':
		return pad(dst, t.YearDay(), 3, '0')
	case 'k':
		return pad(dst, t.Hour(), 2, ' ')
	case 'l':
		return pad(dst, hour12(t), 2, ' ')
	case 'm':
		return pad(dst, int(t.Month()), 2, '0')
	case 'M':
		return pad(dst, t.Minute(), 2, '0')
	case 'n':
		return append(dst, '\n')
	case 'N': // GNU date's nanoseconds; some Mosquitto builds document it
		return pad(dst, t.Nanosecond(), 9, '0')
	case 'p':
		if t.Hour() < 12 {
			return append(dst, "AM"...)
		}
		return append(dst, "PM"...)
	case 'P':
		if t.Hour() < 12 {
			return append(dst, "am"...)
		}
		return append(dst, "pm"...)
	case 'r':
		return Format(dst, "%I:%M:%S %p", t)
	case 'R':
		return Format(dst, "%H:%M", t)
	case 's':
		return strconv.AppendInt(dst, t.Unix(), 10)
	case 'S':
		return pad(dst, t.Second(), 2, '0')
	case 't':
		return append(dst, '\t')
	case 'T':
		return Format(dst, "%H:%M:%S", t)
	case 'u':
		return strconv.AppendInt(dst, int64((int(t.Weekday())+6)%7+1), 10)
	case 'U':
		return pad(dst, (t.YearDay()+6-int(t.Weekday()))/7, 2, '0')
	case 'V':
		_, w := t.ISOWeek()
		return pad(dst, w, 2, '0')
	case 'w':
		return strconv.AppendInt(dst, int64(t.Weekday()), 10)
	case 'W':
		return pad(dst, (t.YearDay()+6-(int(t.Weekday())+6)%7)/7, 2, '0')
	case 'x':
		return Format(dst, "%m/%d/%y", t)
	case 'X':
		return Format(dst, "%H:%M:%S", t)
	case 'y':
		return pad(dst, t.Year()%100, 2, '0')
	case 'Y':
		return strconv.AppendInt(dst, int64(t.Year()), 10)
	case 'z':
		_, off := t.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		dst = append(dst, sign)
		return pad(dst, off/3600*100+off%3600/60, 4, '0')
	case 'Z':
		name, _ := t.Zone()
		return append(dst, name...)
	case '%':
		return append(dst, '%')
	}
	return append(dst, '%', c)
}

func hour12(t time.Time) int {
	h := t.Hour() % 12
	if h == 0 {
		h = 12
	}
	return h
}

// pad appends n in decimal, padded on the left with fill to width.
func pad(dst []byte, n, width int, fill byte) []byte {
	var buf [20]byte
	b := strconv.AppendInt(buf[:0], int64(n), 10)
	for i := len(b); i < width; i++ {
		dst = append(dst, fill)
	}
	return append(dst, b...)
}
