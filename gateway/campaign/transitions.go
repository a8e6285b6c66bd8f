package campaign

import "fmt"

// transitions is the complete table of allowed state changes:
//
//	draft     -> scheduled (Schedule), running | pending (SendNow)
//	scheduled -> draft (SaveDraft), running | pending (its time came, SendNow)
//	pending   -> running | retrying (the channel became free; retrying when
//	             the pass is a retry), stopped (Stop)
//	running   -> completed (every recipient done), stopped (Stop, restart,
//	             channel problem)
//	retrying  -> completed, stopped (as running)
//	stopped   -> running | retrying | pending (Resume)
//	completed -> retrying | pending (RetryFailed)
//
// Anything else is refused with ErrTransition. Editing and deleting are not
// transitions: Update needs draft or scheduled, Delete anything but pending,
// running and retrying.
var transitions = map[State][]State{
	Draft:     {Scheduled, Running, Pending},
	Scheduled: {Draft, Running, Pending},
	Pending:   {Running, Retrying, Stopped},
	Running:   {Completed, Stopped},
	Retrying:  {Completed, Stopped},
	Stopped:   {Running, Retrying, Pending},
	Completed: {Retrying, Pending},
}

func allowed(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

func checkTransition(c *Campaign, to State) error {
	if !allowed(c.State, to) {
		return fmt.Errorf("%w: campaign %q is %s and cannot become %s", ErrTransition, c.Spec.Name, c.State, to)
	}
	return nil
}

// sending reports whether campaigns in s occupy their channel.
func sending(s State) bool { return s == Running || s == Retrying }
