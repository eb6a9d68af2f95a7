package routing

import "context"

// Handler serves one Diameter request. It returns the answer to send back
// to the requesting peer, or nil when the request was forwarded and its
// answer will come back asynchronously.
type Handler interface {
	ServeDiameter(ctx context.Context, r *Request) (Answer, error)
}

// Answer is an encoded answer message (a wire.Msg); nil means "forwarded".
type Answer = []byte

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *Request) (Answer, error)

// ServeDiameter calls f.
func (f HandlerFunc) ServeDiameter(ctx context.Context, r *Request) (Answer, error) {
	return f(ctx, r)
}

// Middleware wraps a Handler with one stage of the chain.
type Middleware func(Handler) Handler

// Chain applies middleware so that the first one listed runs first.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}
