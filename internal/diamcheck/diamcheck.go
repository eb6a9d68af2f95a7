// Package diamcheck checks Diameter answers as a strict peer reads them:
// decoded with go-diameter's default dictionary, then held to the answer
// ABNF of their command (RFC 6733, RFC 4006, RFC 7155), so that an answer
// missing an AVP its command requires fails the way it fails at such a
// peer (which reads it as 5005 whatever its Result-Code). It is for tests.
package diamcheck

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// grammar is the part of an answer's ABNF checked here: the AVPs that
// must occur exactly once ({ AVP }), whether Session-Id is required
// (< Session-Id > is first either way), and whether Failed-AVP may repeat.
type grammar struct {
	name       string
	session    bool
	required   []uint32
	manyFailed bool
}

var common = []uint32{avp.OriginHost, avp.OriginRealm}

// answers are the answer grammars by command code.
var answers = map[uint32]grammar{
	// RFC 6733 §9.7.2.
	diam.Accounting: {name: "ACA", session: true,
		required: append([]uint32{avp.ResultCode, avp.AccountingRecordType, avp.AccountingRecordNumber}, common...)},
	// RFC 4006 §3.2.
	diam.CreditControl: {name: "CCA", session: true,
		required: append([]uint32{avp.ResultCode, avp.AuthApplicationID, avp.CCRequestType, avp.CCRequestNumber}, common...)},
	// RFC 7155 §3.2.
	265: {name: "AA-Answer", session: true, manyFailed: true,
		required: append([]uint32{avp.ResultCode, avp.AuthApplicationID, avp.AuthRequestType}, common...)},
	// RFC 6733 §8.5.2, §8.3.2, §8.4.2.
	diam.SessionTermination: {name: "STA", session: true, required: append([]uint32{avp.ResultCode}, common...)},
	diam.ReAuth:             {name: "RAA", session: true, required: append([]uint32{avp.ResultCode}, common...)},
	diam.AbortSession:       {name: "ASA", session: true, required: append([]uint32{avp.ResultCode}, common...)},
}

// answerMessage is the grammar of an answer with the E bit (RFC 6733 §7.2).
var answerMessage = grammar{name: "answer-message", required: append([]uint32{avp.ResultCode}, common...)}

// Answer decodes b and checks it (see Message).
func Answer(b []byte) (*diam.Message, error) {
	m, err := diam.ReadMessage(bytes.NewReader(b), dict.Default)
	if err != nil {
		return nil, fmt.Errorf("answer does not decode: %w", err)
	}
	return m, Message(m)
}

// Message checks a decoded answer: no request bit, and for the answers of
// ACR, CCR, AAR, STR, RAR and ASR (or any answer with the E bit) the ABNF
// of its command: Session-Id first, each required AVP exactly once, at most
// one Failed-AVP where the ABNF allows one. It returns every violation.
func Message(m *diam.Message) error {
	if m.Header.CommandFlags&diam.RequestFlag != 0 {
		return errors.New("not an answer: R bit set")
	}
	g, ok := answers[m.Header.CommandCode]
	if m.Header.CommandFlags&diam.ErrorFlag != 0 {
		g, ok = answerMessage, true
	}
	if !ok {
		return nil
	}
	var errs []error
	count := map[uint32]int{}
	for i, a := range m.AVP {
		if a.VendorID != 0 {
			continue
		}
		count[a.Code]++
		if a.Code == avp.SessionID && i != 0 {
			errs = append(errs, fmt.Errorf("%s: Session-Id is AVP %d, not first", g.name, i))
		}
	}
	if g.session && count[avp.SessionID] == 0 {
		errs = append(errs, fmt.Errorf("%s: no Session-Id", g.name))
	}
	if count[avp.SessionID] > 1 {
		errs = append(errs, fmt.Errorf("%s: %d Session-Id", g.name, count[avp.SessionID]))
	}
	for _, code := range g.required {
		if n := count[code]; n != 1 {
			errs = append(errs, fmt.Errorf("%s: %s occurs %d times, want 1", g.name, name(m, code), n))
		}
	}
	if !g.manyFailed && count[avp.FailedAVP] > 1 {
		errs = append(errs, fmt.Errorf("%s: %d Failed-AVP", g.name, count[avp.FailedAVP]))
	}
	return errors.Join(errs...)
}

func name(m *diam.Message, code uint32) string {
	if a, err := dict.Default.FindAVP(m.Header.ApplicationID, code); err == nil {
		return a.Name
	}
	return fmt.Sprint(code)
}

// Failed returns the AVPs inside the answer's first Failed-AVP, nil when
// there is none.
func Failed(m *diam.Message) []*diam.AVP {
	for _, a := range m.AVP {
		if a.Code == avp.FailedAVP && a.VendorID == 0 {
			if g, ok := a.Data.(*diam.GroupedAVP); ok {
				return g.AVP
			}
		}
	}
	return nil
}
