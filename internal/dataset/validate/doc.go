// Package validate checks table files against expectations written in a
// YAML rules file, streaming each file once with bounded memory.
//
// A rules file:
//
//	rows: {min: 1000, max: 10000000}           # row-count bounds
//	columns:
//	  age:     {type: int, not_null: true, min: 0, max: 130}
//	  email:   {type: string, regex: '^[^@]+@[^@]+$', unique: true}
//	  country: {allowed: [DE, FR, NL]}
//	  score:   {type: float, min: 0, max: 1, not_null: true}
//	  id:      {unique: true}
//	  signup:  {type: timestamp, min: 2020-01-01}
//	  note:    {optional: true, regex: '^\S'}
//	required_columns: [age, email]             # more columns that must exist
//	expressions:                               # CEL, must be true on every row
//	  - name: adult_has_email
//	    expr: 'age < 18 || email != null'
//	files: 'data/*.csv'                        # which files of a dataset the rules cover
//
// Keys are checked strictly: an unknown key, a wrong value type, an unknown
// type name, a bad regex or an expression that does not compile is an
// errs.Invalid naming the file, line and key, e.g.
// "rules.yaml:4: columns.age: unknown key \"maxx\" (known keys: ...)".
//
// # Columns
//
// A column listed under columns must exist unless it has optional: true;
// required_columns adds columns that must exist without other rules. Types
// are int, float, bool, string and timestamp. When the file's column has
// another type (a CSV column read as text, or as int where float is
// declared), each value is converted: text is parsed, an integral float is an
// int, anything has a string form. A value that does not convert fails
// columns.<name>.type and counts as null for the other checks and for
// expressions. Without a declared type the column's type is the file's, as
// read from its first rows; a later value that does not fit it fails
// columns.<name>.type too. (The reader reads digits as numbers, so a declared
// string sees 01234 as "1234".)
//
// Nulls are only governed by not_null: min, max, allowed, regex and unique
// skip them. min and max are numbers for int and float columns and timestamps
// (RFC 3339 or YYYY-MM-DD, UTC) for timestamp columns; NaN is outside every
// range. regex is Go RE2 syntax, unanchored, matched against the value's text.
// allowed compares typed values, so 1 matches 1.0 in a float column.
//
// unique keeps a 128-bit hash (two independently seeded 64-bit maphash
// values) of every distinct value seen: 16 bytes of key per distinct value,
// 25 to 40 bytes with the Go map's own overhead (measured), so ten million
// distinct values need about 300 MB. It is the one check whose memory grows
// with the file. A false duplicate needs both hashes to collide (odds about n²/2¹²⁹).
//
// # Expressions
//
// Each expression is CEL (https://cel.dev) with the standard library plus the
// strings and math extensions. Every column whose name is a CEL identifier
// (letters, digits and '_', not a reserved word, not "math" or "strings") is
// a variable of its type: int, double, bool, string or timestamp. Every
// column variable is nullable: `email != null` is true when the cell has a
// value and `email == null` when it is missing, while using a null as a
// number, string, bool or timestamp (`age < 18` with age missing) is an
// evaluation error, which fails the row. So write `age == null || age >= 0`
// to let nulls pass. int and double compare with <, <=, > and >= (`score <= 1`)
// but not with == (write 1.0).
//
// An expression is checked when the rules load, against the declared types
// (undeclared columns are dyn), and checked again and planned once per file
// against the file's columns; one that does not fit a file (an unknown column)
// is a failure with Count 0. A row fails when the expression is false, null,
// or fails to evaluate (no such overload, division by zero): the run goes on.
// Each evaluation is limited to ExprCostLimit CEL cost units (a regex over a
// 1 KB string costs 100 to 1000, by pattern); a row over the limit fails, and
// after MaxCostFailures such rows the expression is not evaluated on the rest
// of the file, so a hostile rules file cannot pin a CPU.
//
// # Files
//
// files is a glob (path.Match syntax; '*' does not cross '/') relative to
// the rules file's folder; Rules.Applies says whether a file is covered. With
// no files key the rules cover every table file. Validate reads a file with
// frame (CSV, TSV, JSON Lines, Parquet); ValidateTable takes rows from any
// Table. Columns a JSON Lines file first shows after the reader's type
// sample are not checked.
//
// # Reports
//
// A Report lists the failing expectations in a fixed order (rows, missing
// columns, columns in the order of the rules, expressions), each with the
// number of failing rows and up to MaxSamples sample rows. Report.Text gives
// one line per failing expectation:
//
//	FAIL columns.age.max: 3 rows above 130 (rows 17, 204, 9981: age=131, 200, 999)
package validate
