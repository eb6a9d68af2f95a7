package cdf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxLine bounds one journal line when reading.
const maxLine = 16 << 20

// ErrStop may be returned by a ReadJournal callback to end the walk early
// without an error.
var ErrStop = errors.New("cdf: stop")

// ReadJournal calls fn for every record of the journal in dir, oldest file
// first and in file order. A last line without its newline (a write in
// progress, or cut by a crash and never acknowledged) is skipped. A
// malformed complete line is an error naming the file and line.
func ReadJournal(dir string, fn func(Record) error) error {
	fs, err := listFiles(dir)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if err := readFile(f.Path, fn); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func readFile(path string, fn func(Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cdf: read journal: %w", err)
	}
	defer f.Close()
	if err := readRecords(f, fn); err != nil {
		return fmt.Errorf("cdf: %s: %w", path, err)
	}
	return nil
}

// readRecords decodes the journal lines of r.
func readRecords(r io.Reader, fn func(Record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		for {
			chunk, err := br.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line) > maxLine {
				return fmt.Errorf("line %d: longer than %d bytes", n, maxLine)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				return nil // no line, or a torn last line
			}
			if err != nil {
				return err
			}
			break
		}
		body := bytes.TrimSpace(line)
		if len(body) == 0 {
			continue
		}
		var rec Record
		if err := rec.UnmarshalJSON(body); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
