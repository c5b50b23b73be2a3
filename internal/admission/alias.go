package admission

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Freight aliases are "adjective-animal" pairs, as Kargo's are: short,
// pronounceable and valid label values. With ~100 words in each list there
// are ~10,000 pairs; once random picks keep colliding in a crowded project,
// a numeric suffix is added ("brave-otter-42").

var aliasAdjectives = strings.Fields(`
	agile amber ancient balmy bashful bold brave breezy bright brisk
	bubbly calm candid chipper clever cosmic cozy crafty crisp curious
	dapper daring dashing dazzling deft eager earnest easy elated electric
	fancy fearless festive fierce fluffy frank frosty gentle giddy gleaming
	glossy golden graceful grand happy hardy hasty hearty honest humble
	icy jolly jovial keen kind lively lucky lunar mellow merry
	mighty mirthful modest nifty nimble noble patient peppy plucky polite
	proud quick quiet quirky radiant rapid rosy rustic sage shiny
	silent silly sleek smooth snappy snowy solar spry steady stellar
	sturdy sunny swift tidy tranquil trusty upbeat velvet vivid witty
`)

var aliasAnimals = strings.Fields(`
	albatross alpaca anteater antelope armadillo badger beaver bison bobcat buffalo
	camel caribou cheetah chipmunk cobra condor cougar coyote crane cricket
	dingo dolphin donkey dove dragonfly eagle echidna egret elephant elk
	falcon ferret finch flamingo fox gazelle gecko gibbon giraffe gopher
	gorilla grouse hamster hare hawk hedgehog heron hippo hornet ibex
	ibis iguana impala jackal jaguar kangaroo kestrel kingfisher koala lemur
	leopard lion llama lobster lynx macaw magpie manatee marmot meerkat
	mongoose moose narwhal newt ocelot octopus opossum orca osprey otter
	owl panda panther parrot pelican penguin puffin quail rabbit raccoon
	raven reindeer robin salmon seal shark sparrow squirrel starling walrus
`)

// aliasAttempts bounds the lookups made to find an unused alias.
const aliasAttempts = 40

// aliasCandidate returns the attempt'th candidate: plain pairs first, then
// pairs with a growing numeric suffix.
func aliasCandidate(r *rand.Rand, attempt int) string {
	a := aliasAdjectives[r.IntN(len(aliasAdjectives))]
	n := aliasAnimals[r.IntN(len(aliasAnimals))]
	switch {
	case attempt < 8:
		return a + "-" + n
	case attempt < 24:
		return fmt.Sprintf("%s-%s-%d", a, n, 1+r.IntN(99))
	default:
		return fmt.Sprintf("%s-%s-%d", a, n, 100+r.IntN(999900))
	}
}
