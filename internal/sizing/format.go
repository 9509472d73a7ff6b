package sizing

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// The explanation is written with appendf, a small printf that formats
// numbers the way people read them, without fmt's cost (sizing thousands of
// applications is mostly formatting). Its verbs:
//
//	%s  a string (or a string type: Complexity, Skew, Constraint, Level)
//	%d  an int, with thousands separators: 2,000,000
//	%i  a float64 rounded to a whole number, with separators
//	%n  a float64 rounded to two decimals, without trailing zeros: 2,160.49, 1.5
//	%b  a float64 size in Kubernetes binary units: 8Gi, 2.86Gi
//	%B  a float64 size in decimal units, as bandwidths are quoted: 51.2 MB
//	%p  a float64 fraction as a percentage: 50%
//	%t  a time.Duration in Flink's syntax: 2 min, 30 s, 500 ms
//	%c  a count and a noun, two arguments (int, string): 1 slot, 2 slots
//	%T  a count of TaskManagers (int): 1 TaskManager, 13 TaskManagers
//	%%  a percent sign
func appendf(dst []byte, format string, args ...any) []byte {
	a := 0
	for i := 0; i < len(format); i++ {
		// Copy the text up to the next verb in one go.
		j := strings.IndexByte(format[i:], '%')
		if j < 0 {
			return append(dst, format[i:]...)
		}
		dst = append(dst, format[i:i+j]...)
		if i += j + 1; i == len(format) {
			return append(dst, '%')
		}
		verb := format[i]
		if verb == '%' {
			dst = append(dst, '%')
			continue
		}
		if a >= len(args) {
			dst = append(dst, "%!"...)
			dst = append(dst, verb)
			continue
		}
		arg := args[a]
		a++
		switch verb {
		case 's':
			dst = appendString(dst, arg)
		case 'd':
			n, _ := arg.(int)
			var tmp [24]byte
			dst = appendGrouped(dst, strconv.AppendInt(tmp[:0], int64(n), 10))
		case 'i':
			dst = appendWhole(dst, float(arg))
		case 'n':
			dst = appendNum(dst, float(arg))
		case 'b':
			dst = appendBytes(dst, float(arg), 1024, binaryUnits)
		case 'B':
			dst = appendBytes(dst, float(arg), 1000, decimalUnits)
		case 'p':
			dst = append(appendNum(dst, float(arg)*100), '%')
		case 't':
			d, _ := arg.(time.Duration)
			dst = appendFlinkDuration(dst, d)
		case 'c', 'T':
			n, _ := arg.(int)
			noun := "TaskManager"
			if verb == 'c' && a < len(args) {
				noun, _ = args[a].(string)
				a++
			}
			var tmp [24]byte
			dst = append(appendGrouped(dst, strconv.AppendInt(tmp[:0], int64(n), 10)), ' ')
			dst = append(dst, noun...)
			if n != 1 {
				dst = append(dst, 's')
			}
		default:
			dst = append(dst, '%', verb)
		}
	}
	return dst
}

func appendString(dst []byte, arg any) []byte {
	switch v := arg.(type) {
	case string:
		return append(dst, v...)
	case model.Complexity:
		return append(dst, v...)
	case model.Skew:
		return append(dst, v...)
	case Constraint:
		return append(dst, v...)
	case Level:
		return append(dst, v...)
	default:
		return append(dst, "%!s"...)
	}
}

func float(arg any) float64 {
	switch v := arg.(type) {
	case float64:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	default:
		return math.NaN()
	}
}

// appendGrouped appends the digits of a number (with an optional sign and
// fraction) with a comma every three digits of the whole part.
func appendGrouped(dst, digits []byte) []byte {
	if len(digits) > 0 && digits[0] == '-' {
		dst = append(dst, '-')
		digits = digits[1:]
	}
	whole := len(digits)
	for i, c := range digits {
		if c == '.' {
			whole = i
			break
		}
	}
	if whole <= 3 {
		return append(dst, digits...)
	}
	for i := 0; i < whole; i++ {
		if i > 0 && (whole-i)%3 == 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, digits[i])
	}
	return append(dst, digits[whole:]...)
}

func appendWhole(dst []byte, x float64) []byte {
	var tmp [40]byte
	if math.Abs(x) < 1e18 {
		return appendGrouped(dst, strconv.AppendInt(tmp[:0], int64(math.Round(x)), 10))
	}
	return appendGrouped(dst, strconv.AppendFloat(tmp[:0], math.Round(x), 'f', 0, 64))
}

func appendNum(dst []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) >= 1e15 {
		var tmp [40]byte
		return appendGrouped(dst, strconv.AppendFloat(tmp[:0], x, 'f', 0, 64))
	}
	// Whole hundredths, so the two decimals cost no float formatting.
	c := int64(math.Round(x * 100))
	if c < 0 {
		dst = append(dst, '-')
		c = -c
	}
	var tmp [24]byte
	dst = appendGrouped(dst, strconv.AppendInt(tmp[:0], c/100, 10))
	switch frac := c % 100; {
	case frac == 0:
	case frac%10 == 0:
		dst = append(dst, '.', byte('0'+frac/10))
	default:
		dst = append(dst, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return dst
}

var (
	binaryUnits  = []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	decimalUnits = []string{" B", " kB", " MB", " GB", " TB", " PB", " EB"}
)

func appendBytes(dst []byte, b, base float64, units []string) []byte {
	i := 0
	for math.Abs(b) >= base && i < len(units)-1 {
		b /= base
		i++
	}
	return append(appendNum(dst, b), units[i]...)
}

// sprintf is appendf to a new string.
func sprintf(format string, args ...any) string {
	return string(appendf(make([]byte, 0, 2*len(format)), format, args...))
}

// round3 rounds to three decimals, for results that are read by people.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
