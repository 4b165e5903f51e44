package tracking

import (
	"math/rand/v2"
	"strconv"
)

// randomName returns a made-up run or model name for when the client gives
// none, shaped like MLflow's: "adjective-noun-123", at most 20 characters.
func randomName() string {
	adjectives := [...]string{
		"able", "agile", "amber", "ample", "bold", "brave", "bright", "brisk", "calm", "clever",
		"crisp", "curious", "daring", "deft", "eager", "early", "fair", "fancy", "fleet", "fond",
		"gentle", "glad", "grand", "happy", "hardy", "honest", "humble", "jolly", "keen", "kind",
		"lively", "loyal", "lucky", "merry", "mellow", "mighty", "modest", "neat", "nimble", "noble",
		"patient", "placid", "polite", "proud", "quick", "quiet", "rapid", "ready", "regal", "rustic",
		"sharp", "shiny", "silent", "smart", "snappy", "sober", "solid", "spry", "steady", "stellar",
		"sunny", "swift", "tidy", "tranquil", "upbeat", "valiant", "vivid", "warm", "wise", "witty",
	}
	nouns := [...]string{
		"ant", "badger", "bat", "bear", "bee", "bison", "boar", "calf", "carp", "cat",
		"colt", "crab", "crane", "crow", "deer", "dove", "duck", "eel", "elk", "finch",
		"fish", "fox", "frog", "gnu", "goat", "goose", "hare", "hawk", "hen", "heron",
		"horse", "ibis", "jay", "koala", "lark", "lemur", "lion", "lynx", "mole", "moose",
		"moth", "mouse", "newt", "otter", "owl", "panda", "pig", "pike", "puma", "quail",
		"ram", "rat", "raven", "robin", "seal", "shark", "sheep", "skunk", "sloth", "snail",
		"squid", "stork", "swan", "tern", "toad", "trout", "vole", "wasp", "whale", "wolf",
	}
	for {
		n := adjectives[rand.IntN(len(adjectives))] + "-" +
			nouns[rand.IntN(len(nouns))] + "-" + strconv.Itoa(rand.IntN(1000))
		if len(n) <= 20 {
			return n
		}
	}
}
