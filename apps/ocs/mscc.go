package ocs

// msccStep is one Multiple-Services-Credit-Control to apply to one unit
// kind of an account: settle the reservation with the used units, then
// reserve a new grant.
type msccStep struct {
	avail    uint64 // available balance of the kind
	reserved uint64 // the reservation being settled
	used     uint64 // Used-Service-Unit amount
	want     uint64 // grant to reserve; 0 for none
}

// msccResult is the outcome of an msccStep.
type msccResult struct {
	avail   uint64 // new available balance
	charged uint64 // debited from the account
	granted uint64 // new reservation
	final   bool   // the grant is smaller than wanted (Final-Unit-Indication)
	code    uint32 // per-MSCC Result-Code
}

// Result codes of RFC 4006 §9.
const (
	resultEndUserServiceDenied       = 4010
	resultCreditControlNotApplicable = 4011
	resultCreditLimitReached         = 4012
	resultUserUnknown                = 5030
	resultRatingFailed               = 5031
)

// applyMSCC settles and re-reserves. Used units are debited from the
// reservation and the rest of it returns to the balance; usage beyond the
// reservation is debited from the balance, never below zero. The new grant
// is what is wanted, or what is left when less (final), or 4012 when
// nothing is.
func applyMSCC(s msccStep) msccResult {
	r := msccResult{code: 2001}
	if s.used <= s.reserved {
		r.avail = s.avail + (s.reserved - s.used)
		r.charged = s.used
	} else {
		over := min(s.used-s.reserved, s.avail)
		r.avail = s.avail - over
		r.charged = s.reserved + over
	}
	if s.want == 0 {
		return r
	}
	if r.avail == 0 {
		r.code = resultCreditLimitReached
		return r
	}
	r.granted = min(s.want, r.avail)
	r.final = r.granted < s.want
	r.avail -= r.granted
	return r
}
