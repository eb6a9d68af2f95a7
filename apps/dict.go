package apps

import "github.com/dra-project/dra/wire"

// CheckRequest checks req's AVPs against d as wire.CheckAVPs does and,
// when it finds a problem, returns the answer id gives (RFC 6733 §7: the
// Result-Code, an Error-Message and the Failed-AVP, with the AVPs the
// command's answer requires copied from req); nil when req passes.
func CheckRequest(req wire.Msg, d wire.Dictionary, id Identity) wire.Msg {
	p := wire.CheckAVPs(req.Body(), d)
	if p.ResultCode == 0 {
		return nil
	}
	return wire.ErrorAnswer(req, wire.ErrorSpec{OriginHost: id.OriginHost, OriginRealm: id.OriginRealm,
		ResultCode: p.ResultCode, Message: p.Message, FailedAVP: p.FailedAVP})
}
