package procmem

// Find returns the first process named name in root's tree.
func Find(root int, name string) (Proc, bool) {
	procs, err := Tree(root)
	if err != nil {
		return Proc{}, false
	}
	for _, p := range procs {
		if p.Name == name {
			return p, true
		}
	}
	return Proc{}, false
}
