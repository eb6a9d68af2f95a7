package cdf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dra-project/dra/apps"
)

// Journal file naming: cdr-<sequence, 8+ decimal digits>.jsonl, plus the
// sequence file remembering the last sequence used.
const (
	filePrefix = "cdr-"
	fileSuffix = ".jsonl"
	seqFile    = "cdr.seq"
)

// journalFile is one journal file in a directory.
type journalFile struct {
	Seq  uint64
	Path string
}

func fileName(seq uint64) string { return fmt.Sprintf("%s%08d%s", filePrefix, seq, fileSuffix) }

// parseFileName returns the sequence number of a journal file name.
func parseFileName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, fileSuffix) {
		return 0, false
	}
	s := name[len(filePrefix) : len(name)-len(fileSuffix)]
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// listFiles returns the journal files of dir in sequence order.
func listFiles(dir string) ([]journalFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cdf: list journal: %w", err)
	}
	var fs []journalFile
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if seq, ok := parseFileName(e.Name()); ok {
			fs = append(fs, journalFile{Seq: seq, Path: filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(fs, func(a, b journalFile) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return fs, nil
}

// readSeq returns the sequence recorded in dir's sequence file, 0 if none.
func readSeq(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, seqFile))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cdf: read %s: %w", seqFile, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cdf: parse %s: %w", seqFile, err)
	}
	return n, nil
}

// writeSeq durably records seq in dir's sequence file.
func writeSeq(dir string, seq uint64) error {
	tmp := filepath.Join(dir, seqFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, apps.FileMode)
	if err != nil {
		return fmt.Errorf("cdf: write %s: %w", seqFile, err)
	}
	_, err = f.WriteString(strconv.FormatUint(seq, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, seqFile))
	}
	if err != nil {
		return fmt.Errorf("cdf: write %s: %w", seqFile, err)
	}
	return nil
}

// syncDir makes directory entry changes in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cdf: sync dir: %w", err)
	}
	err = d.Sync()
	d.Close()
	if err != nil {
		return fmt.Errorf("cdf: sync dir: %w", err)
	}
	return nil
}

// trimTornTail truncates a file after its last newline: a line without one
// was being written when the process stopped and was never acknowledged.
func trimTornTail(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cdf: recover %s: %w", path, err)
	}
	keep := 0
	if i := strings.LastIndexByte(string(b), '\n'); i >= 0 {
		keep = i + 1
	}
	if keep == len(b) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cdf: recover %s: %w", path, err)
	}
	err = f.Truncate(int64(keep))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("cdf: recover %s: %w", path, err)
	}
	return nil
}
