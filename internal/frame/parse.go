package frame

import (
	"math"
	"strconv"
	"unsafe"
)

// Scalar parsers for cell text. They work on []byte without allocating and
// accept surrounding ASCII spaces for non-string types.

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseBool accepts true/false, True/False, TRUE/FALSE.
func parseBool(b []byte) (v, ok bool) {
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		b = trimSpace(b)
	}
	switch string(b) {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// parseInt accepts an optional sign and decimal digits that fit in int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		b = trimSpace(b)
	}
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	switch b[0] {
	case '-':
		neg = true
		b = b[1:]
	case '+':
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		u = u*10 + uint64(d)
	}
	// at most 19 digits cannot overflow uint64; check the int64 range
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat accepts decimal numbers (with optional fraction and exponent)
// and the words inf, infinity and nan in any case with an optional sign. It
// rejects hexadecimal floats and underscores, which strconv would accept.
func parseFloat(b []byte) (float64, bool) {
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		b = trimSpace(b)
	}
	if len(b) == 0 {
		return 0, false
	}
	// Fast path (Clinger): a mantissa below 2^53 and a power of ten up to
	// 22 convert exactly with one float operation.
	i := 0
	neg := false
	switch b[0] {
	case '-':
		neg = true
		i++
	case '+':
		i++
	}
	var mant uint64
	start := i
	for i < len(b) {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		mant = mant*10 + uint64(d)
		i++
	}
	nd := i - start
	exp := 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			mant = mant*10 + uint64(d)
			i++
		}
		exp = fs - i
		nd += i - fs
	}
	if nd == 0 || nd > 19 {
		return slowFloat(b)
	}
	if i < len(b) {
		if b[i] != 'e' && b[i] != 'E' {
			return 0, false
		}
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		if i == len(b) {
			return 0, false
		}
		e := 0
		for ; i < len(b); i++ {
			d := b[i] - '0'
			if d > 9 {
				return 0, false
			}
			if e < 100000 {
				e = e*10 + int(d)
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if mant < 1<<53 && exp >= -22 && exp <= 22 {
		f := float64(mant)
		if exp < 0 {
			f /= pow10[-exp]
		} else {
			f *= pow10[exp]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	return slowFloat(b)
}

// slowFloat handles what the fast path cannot: long mantissas, large
// exponents, inf and nan. Only decimal syntax and those words get to strconv.
func slowFloat(b []byte) (float64, bool) {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+', c == 'e', c == 'E':
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			// letters: only inf, infinity, nan (checked below)
		default:
			return 0, false
		}
	}
	word := b
	if len(word) > 0 && (word[0] == '-' || word[0] == '+') {
		word = word[1:]
	}
	if len(word) > 0 && (word[0]|0x20 == 'i' || word[0]|0x20 == 'n') {
		switch lower(word) {
		case "inf", "infinity", "nan":
		default:
			return 0, false
		}
	} else {
		for _, c := range word {
			if c|0x20 >= 'a' && c|0x20 <= 'z' && c|0x20 != 'e' {
				return 0, false
			}
		}
	}
	// strconv does not keep the string on success; on error the NumError
	// that would retain it is dropped here.
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true // ±Inf or 0 on overflow/underflow
		}
		return 0, false
	}
	return f, true
}

func lower(b []byte) string {
	if len(b) > 8 {
		return ""
	}
	var buf [8]byte
	for i, c := range b {
		buf[i] = c | 0x20
	}
	return string(buf[:len(b)])
}

// parseTimestamp accepts 2006-01-02, and 2006-01-02 15:04:05 or
// 2006-01-02T15:04:05, with an optional fraction of a second and an
// optional zone (Z, ±hh:mm, ±hhmm, ±hh). It returns Unix microseconds;
// times without a zone are UTC.
func parseTimestamp(b []byte) (int64, bool) {
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		b = trimSpace(b)
	}
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digitsN(b[0:4])
	mo, ok2 := digitsN(b[5:7])
	d, ok3 := digitsN(b[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return 0, false
	}
	secs := daysFromCivil(y, mo, d) * 86400
	var micros int64
	b = b[10:]
	if len(b) > 0 {
		if len(b) < 9 || (b[0] != 'T' && b[0] != ' ' && b[0] != 't') || b[3] != ':' || b[6] != ':' {
			return 0, false
		}
		h, ok1 := digitsN(b[1:3])
		mi, ok2 := digitsN(b[4:6])
		s, ok3 := digitsN(b[7:9])
		if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || s > 59 {
			return 0, false
		}
		secs += int64(h*3600 + mi*60 + s)
		b = b[9:]
		if len(b) > 0 && b[0] == '.' {
			b = b[1:]
			n := 0
			for n < len(b) && b[n] >= '0' && b[n] <= '9' {
				if n < 6 {
					micros = micros*10 + int64(b[n]-'0')
				}
				n++
			}
			if n == 0 {
				return 0, false
			}
			for k := n; k < 6; k++ {
				micros *= 10
			}
			b = b[n:]
		}
		switch {
		case len(b) == 0:
		case len(b) == 1 && (b[0] == 'Z' || b[0] == 'z'):
		case b[0] == '+' || b[0] == '-':
			var oh, om int
			var ok bool
			switch len(b) {
			case 3:
				oh, ok = digitsN(b[1:3])
			case 5:
				oh, ok = digitsN(b[1:3])
				if ok {
					om, ok = digitsN(b[3:5])
				}
			case 6:
				if b[3] != ':' {
					return 0, false
				}
				oh, ok = digitsN(b[1:3])
				if ok {
					om, ok = digitsN(b[4:6])
				}
			}
			if !ok || oh > 23 || om > 59 {
				return 0, false
			}
			off := int64(oh*3600 + om*60)
			if b[0] == '-' {
				off = -off
			}
			secs -= off
		default:
			return 0, false
		}
	}
	return secs*1e6 + micros, true
}

func digitsN(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int(d)
	}
	return n, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// inferType returns the narrowest type that can hold the (non-missing) text b.
func inferType(b []byte) Type {
	if len(b) == 0 {
		return TypeString
	}
	c := b[0]
	if c == ' ' || c == '\t' {
		t := trimSpace(b)
		if len(t) == 0 {
			return TypeString
		}
		c = t[0]
	}
	if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' {
		if _, ok := parseInt(b); ok {
			return TypeInt
		}
		if _, ok := parseFloat(b); ok {
			return TypeFloat
		}
		if _, ok := parseTimestamp(b); ok {
			return TypeTimestamp
		}
		return TypeString
	}
	if _, ok := parseBool(b); ok {
		return TypeBool
	}
	if c|0x20 == 'i' || c|0x20 == 'n' {
		if _, ok := parseFloat(b); ok {
			return TypeFloat
		}
	}
	return TypeString
}

// nullSet matches the texts that read as missing. The empty text always is.
type nullSet struct {
	first  [256]bool // first bytes of the tokens
	maxLen int
	tokens []string
	// parseable: some token also reads as a number, bool or timestamp, so
	// typed conversions must check for missing before parsing
	parseable bool
}

func newNullSet(tokens []string) *nullSet {
	s := &nullSet{}
	for _, t := range tokens {
		if t == "" {
			continue
		}
		s.first[t[0]] = true
		if inferType([]byte(t)) != TypeString {
			s.parseable = true
		}
		s.maxLen = max(s.maxLen, len(t))
		s.tokens = append(s.tokens, t)
	}
	return s
}

// match reports whether b is a missing-value token.
func (s *nullSet) match(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if len(b) > s.maxLen || !s.first[b[0]] {
		return false
	}
	for _, t := range s.tokens {
		if string(b) == t {
			return true
		}
	}
	return false
}
