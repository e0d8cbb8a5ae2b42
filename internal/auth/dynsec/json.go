package dynsec

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/midge-mqtt/midge/internal/ascii"
)

// The JSON here is read and written the way Mosquitto's cJSON (1.7.x) does
// it, because the plugin's answers depend on cJSON's quirks and clients
// compare its output:
//
//   - Member lookup is case-insensitive (ASCII) and the first of duplicate
//     members wins: "textName" in a file written by mosquitto_ctrl is read
//     as "textname".
//   - Strings keep their bytes as they are, valid UTF-8 or not (the plugin
//     checks UTF-8 itself, with Mosquitto's rules), and end at the first
//     NUL, as C strings do.
//   - Numbers are what strtod makes of the longest run of [0-9+-.eE]; the
//     integer value saturates at the int32 range.
//   - Whatever follows the first complete value is ignored.
//
// Output escapes only '"', '\\' and control characters, never '/', '<' or
// bytes above 0x7f, and the indented form is cJSON_Print's, tabs included,
// so a file midge writes is byte for byte the file Mosquitto would write.

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonFalse
	jsonTrue
	jsonNumber
	jsonString
	jsonArray
	jsonObject
	jsonRaw // output only: text written as it is (cJSON_AddRawToObject)
)

// maxJSONDepth is cJSON's CJSON_NESTING_LIMIT.
const maxJSONDepth = 1000

// jsonValue is a parsed or to-be-printed JSON value. Members of an object
// are its items, each with its key.
type jsonValue struct {
	kind  jsonKind
	num   float64
	str   string // string value, or the text of a jsonRaw
	key   string // member name, for the items of an object
	items []*jsonValue
}

// get returns the first member of an object whose name equals name,
// ignoring ASCII case (cJSON_GetObjectItem), or nil.
func (v *jsonValue) get(name string) *jsonValue {
	if v == nil || v.kind != jsonObject {
		return nil
	}
	for _, m := range v.items {
		if ascii.EqualFold(m.key, name) {
			return m
		}
	}
	return nil
}

func (v *jsonValue) isString() bool { return v != nil && v.kind == jsonString }
func (v *jsonValue) isNumber() bool { return v != nil && v.kind == jsonNumber }
func (v *jsonValue) isBool() bool   { return v != nil && (v.kind == jsonTrue || v.kind == jsonFalse) }
func (v *jsonValue) isArray() bool  { return v != nil && v.kind == jsonArray }
func (v *jsonValue) isObject() bool { return v != nil && v.kind == jsonObject }

// intValue is cJSON's valueint: the number truncated towards zero,
// saturating at the int32 limits.
func (v *jsonValue) intValue() int {
	return saturateInt(v.num)
}

func saturateInt(f float64) int {
	switch {
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	case math.IsNaN(f):
		return 0
	}
	return int(f)
}

// cString cuts s at its first NUL, as every string the C plugin keeps ends
// there.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// parseJSON parses the first JSON value in data. ok is false when there is
// none, which Mosquitto reports as "Payload not valid JSON".
func parseJSON(data []byte) (v *jsonValue, ok bool) {
	p := jsonParser{data: data}
	if len(data) >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf {
		p.pos = 3 // cJSON skips a UTF-8 byte order mark
	}
	p.skipSpace()
	v, ok = p.value(0)
	return v, ok
}

type jsonParser struct {
	data []byte
	pos  int
}

// skipSpace skips every byte up to and including ' ', as cJSON does (so
// NUL and other control bytes count as white space).
func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) && p.data[p.pos] <= ' ' {
		p.pos++
	}
}

func (p *jsonParser) hasPrefix(s string) bool {
	return len(p.data)-p.pos >= len(s) && string(p.data[p.pos:p.pos+len(s)]) == s
}

func (p *jsonParser) value(depth int) (*jsonValue, bool) {
	if p.pos >= len(p.data) {
		return nil, false
	}
	switch c := p.data[p.pos]; {
	case p.hasPrefix("null"):
		p.pos += 4
		return &jsonValue{kind: jsonNull}, true
	case p.hasPrefix("false"):
		p.pos += 5
		return &jsonValue{kind: jsonFalse}, true
	case p.hasPrefix("true"):
		p.pos += 4
		return &jsonValue{kind: jsonTrue}, true
	case c == '"':
		s, ok := p.string()
		return &jsonValue{kind: jsonString, str: s}, ok
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	case c == '[':
		return p.array(depth)
	case c == '{':
		return p.object(depth)
	}
	return nil, false
}

// number takes the longest run of number characters, as cJSON copies
// them, and then what strtod would convert of it.
func (p *jsonParser) number() (*jsonValue, bool) {
	end := p.pos
	for end < len(p.data) && end-p.pos < 63 && strings.IndexByte("0123456789+-eE.", p.data[end]) >= 0 {
		end++
	}
	n := strtodPrefix(p.data[p.pos:end])
	if n == 0 {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(p.data[p.pos:p.pos+n]), 64)
	if err != nil && !isRangeError(err) {
		return nil, false
	}
	p.pos += n
	return &jsonValue{kind: jsonNumber, num: f}, true
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// strtodPrefix returns the length of the longest prefix of b that C's
// strtod converts as a decimal number: [+-]digits[.digits][e[+-]digits],
// with at least one digit before the exponent. 0 means none.
func strtodPrefix(b []byte) int {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	digits := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j < len(b) && '0' <= b[j] && b[j] <= '9' {
			for j < len(b) && '0' <= b[j] && b[j] <= '9' {
				j++
			}
			i = j
		}
	}
	return i
}

// string parses a string literal at p.pos (which holds '"').
func (p *jsonParser) string() (string, bool) {
	start := p.pos + 1
	end := start
	for end < len(p.data) && p.data[end] != '"' {
		if p.data[end] == '\\' {
			if end+1 >= len(p.data) {
				return "", false
			}
			end++
		}
		end++
	}
	if end >= len(p.data) {
		return "", false
	}
	in := p.data[start:end]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if in[i] != '\\' {
			out = append(out, in[i])
			i++
			continue
		}
		switch in[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case '"', '\\', '/':
			out = append(out, in[i+1])
		case 'u':
			r, n := utf16Escape(in[i:])
			if n == 0 {
				return "", false
			}
			out = utf8.AppendRune(out, r)
			i += n
			continue
		default:
			return "", false
		}
		i += 2
	}
	p.pos = end + 1
	return cString(string(out)), true
}

// utf16Escape decodes "\uXXXX" or a surrogate pair "\uXXXX\uXXXX" at the
// start of b, returning the code point and the bytes used (0: invalid).
// Like cJSON it reads a malformed hex digit as the code point 0.
func utf16Escape(b []byte) (rune, int) {
	if len(b) < 6 {
		return 0, 0
	}
	first := hex4(b[2:6])
	switch {
	case first >= 0xdc00 && first <= 0xdfff:
		return 0, 0
	case first >= 0xd800 && first <= 0xdbff:
		if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0, 0
		}
		second := hex4(b[8:12])
		if second < 0xdc00 || second > 0xdfff {
			return 0, 0
		}
		return 0x10000 + ((first&0x3ff)<<10 | second&0x3ff), 12
	}
	return first, 6
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0
		}
	}
	return r
}

func (p *jsonParser) array(depth int) (*jsonValue, bool) {
	if depth >= maxJSONDepth {
		return nil, false
	}
	v := &jsonValue{kind: jsonArray}
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return v, true
	}
	for {
		p.skipSpace()
		item, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		v.items = append(v.items, item)
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		break
	}
	if p.pos >= len(p.data) || p.data[p.pos] != ']' {
		return nil, false
	}
	p.pos++
	return v, true
}

func (p *jsonParser) object(depth int) (*jsonValue, bool) {
	if depth >= maxJSONDepth {
		return nil, false
	}
	v := &jsonValue{kind: jsonObject}
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return v, true
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, false
		}
		key, ok := p.string()
		if !ok {
			return nil, false
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, false
		}
		p.pos++
		p.skipSpace()
		item, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		item.key = key
		v.items = append(v.items, item)
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		break
	}
	if p.pos >= len(p.data) || p.data[p.pos] != '}' {
		return nil, false
	}
	p.pos++
	return v, true
}

// Builders for output values.

func jsonObj() *jsonValue { return &jsonValue{kind: jsonObject} }
func jsonArr() *jsonValue { return &jsonValue{kind: jsonArray} }

func jsonStr(s string) *jsonValue { return &jsonValue{kind: jsonString, str: s} }

func jsonInt(n int) *jsonValue {
	return &jsonValue{kind: jsonRaw, str: strconv.Itoa(n)}
}

func jsonBool(b bool) *jsonValue {
	if b {
		return &jsonValue{kind: jsonTrue}
	}
	return &jsonValue{kind: jsonFalse}
}

// set appends a member to an object and returns the object.
func (v *jsonValue) set(key string, item *jsonValue) *jsonValue {
	item.key = key
	v.items = append(v.items, item)
	return v
}

// add appends an item to an array and returns the array.
func (v *jsonValue) add(item *jsonValue) *jsonValue {
	v.items = append(v.items, item)
	return v
}

// marshal prints v as cJSON_PrintUnformatted does, or as cJSON_Print does
// when indent is set.
func (v *jsonValue) marshal(indent bool) []byte {
	w := jsonWriter{indent: indent}
	w.value(v)
	return w.buf
}

type jsonWriter struct {
	buf    []byte
	indent bool
	depth  int
}

func (w *jsonWriter) tabs(n int) {
	for range n {
		w.buf = append(w.buf, '\t')
	}
}

func (w *jsonWriter) value(v *jsonValue) {
	switch v.kind {
	case jsonNull:
		w.buf = append(w.buf, "null"...)
	case jsonFalse:
		w.buf = append(w.buf, "false"...)
	case jsonTrue:
		w.buf = append(w.buf, "true"...)
	case jsonRaw:
		w.buf = append(w.buf, v.str...)
	case jsonNumber:
		w.number(v.num)
	case jsonString:
		w.string(v.str)
	case jsonArray:
		w.buf = append(w.buf, '[')
		w.depth++
		for i, item := range v.items {
			if i > 0 {
				w.buf = append(w.buf, ',')
				if w.indent {
					w.buf = append(w.buf, ' ')
				}
			}
			w.value(item)
		}
		w.depth--
		w.buf = append(w.buf, ']')
	case jsonObject:
		w.buf = append(w.buf, '{')
		w.depth++
		if w.indent {
			w.buf = append(w.buf, '\n')
		}
		for i, item := range v.items {
			if w.indent {
				w.tabs(w.depth)
			}
			w.string(item.key)
			w.buf = append(w.buf, ':')
			if w.indent {
				w.buf = append(w.buf, '\t')
			}
			w.value(item)
			if i < len(v.items)-1 {
				w.buf = append(w.buf, ',')
			}
			if w.indent {
				w.buf = append(w.buf, '\n')
			}
		}
		if w.indent {
			w.tabs(w.depth - 1)
		}
		w.depth--
		w.buf = append(w.buf, '}')
	}
}

// number prints like cJSON's print_number: integers as integers, others
// with the shortest of 15 or 17 significant digits that reads back.
func (w *jsonWriter) number(f float64) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		w.buf = append(w.buf, "null"...)
	case f == math.Trunc(f) && math.Abs(f) < 1<<53:
		w.buf = strconv.AppendInt(w.buf, int64(f), 10)
	default:
		s := strconv.FormatFloat(f, 'g', 15, 64)
		if g, _ := strconv.ParseFloat(s, 64); g != f {
			s = strconv.FormatFloat(f, 'g', 17, 64)
		}
		w.buf = append(w.buf, s...)
	}
}

const hexDigits = "0123456789abcdef"

func (w *jsonWriter) string(s string) {
	w.buf = append(w.buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			w.buf = append(w.buf, '\\', c)
		case '\b':
			w.buf = append(w.buf, '\\', 'b')
		case '\f':
			w.buf = append(w.buf, '\\', 'f')
		case '\n':
			w.buf = append(w.buf, '\\', 'n')
		case '\r':
			w.buf = append(w.buf, '\\', 'r')
		case '\t':
			w.buf = append(w.buf, '\\', 't')
		default:
			if c < ' ' {
				w.buf = append(w.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				w.buf = append(w.buf, c)
			}
		}
	}
	w.buf = append(w.buf, '"')
}
