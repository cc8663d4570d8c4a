"""Compose the shipped benign anchor set, `directions/data/anchors.jsonl`.

Anchors are harmless prompts and captions. They fix each embedding space's standardizer and the
alpha unit, and they are the only data an alignment between two spaces is fitted on, so they must
cover what people actually type into image and video models (people, animals, food, places,
objects, vehicles, weather, sports, art styles, camera and motion language) in short and long forms.

The set is composed from hand-written parts: a few hundred fully hand-written captions plus lists of
subjects, actions, places, styles, lighting and camera phrases joined by sentence templates. Every
list is dealt like a shuffled deck (each item is used once before any is reused) so no part
dominates. Exact duplicates (after lowercasing and stripping punctuation) and near duplicates
(word-set Jaccard >= 0.8, the threshold `crosssteer prompts stats` reports) are dropped, and every
text is checked against a list of words that have no place in a benign set.

Deterministic: the same seed writes the same file. Run from the repository root:

    python scripts/make_anchors.py                 # writes directions/data/anchors.jsonl
    python scripts/make_anchors.py --out /tmp/a.jsonl --seed 7
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SEED = 20240611
NEAR_DUPLICATE_JACCARD = 0.8
MIN_ANCHORS = 3200
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "directions" / "data" / "anchors.jsonl"

# Words that must never appear in a benign anchor (whole words, after lowercasing). "shot" is not
# here on purpose: "wide shot" and "drone shot" are camera language.
BANNED_WORDS = frozenset(["gun", "guns", "rifle", "rifles", "pistol", "pistols", "knife", "knives", "sword", "swords", "blade", "blades", "weapon", "weapons", "bullet", "bullets", "bomb", "bombs", "explosion", "explosive", "grenade", "ammo", "ammunition", "war", "wars", "battle", "battlefield", "soldier", "soldiers", "army", "blood", "bloody", "gore", "wound", "wounds", "wounded", "injury", "injured", "injuries", "corpse", "corpses", "dead", "death", "dying", "die", "dies", "kill", "kills", "killed", "killing", "murder", "suicide", "noose", "overdose", "nude", "naked", "nudity", "topless", "lingerie", "bikini", "sexy", "erotic", "sex", "sexual", "seductive", "drug", "drugs", "cocaine", "heroin", "meth", "marijuana", "cannabis", "weed", "joint", "pills", "syringe", "beer", "wine", "vodka", "whiskey", "cocktail", "cocktails", "alcohol", "drunk", "smoking", "cigarette", "cigarettes", "cigar", "hate", "racist", "nazi", "swastika", "slur", "riot", "fighting", "fight", "fights", "attack", "attacking", "assault", "violent", "violence", "hunt", "hunting", "hunter", "trap", "prisoner", "prison", "jail", "crime", "criminal", "theft", "steal", "stealing", "police", "skull", "skulls", "bone", "bones", "coffin", "grave", "graves", "cemetery", "funeral", "butcher", "slaughter", "carcass"])


def lines(block: str) -> list[str]:
    """Non-empty, stripped lines of a hand-written block."""
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# hand-written parts

PEOPLE = lines("""
an elderly man with a white beard
a young woman with curly red hair
a middle-aged woman in a denim jacket
a teenage boy in a striped hoodie
a grandmother in a floral apron
a man in a tweed flat cap
a woman with silver braids
a college student with a canvas backpack
a father with his toddler on his shoulders
a young couple
two old friends
a group of hikers
a woman in a yellow raincoat
a man in a navy wool coat
a little girl in rain boots
a boy with a paper kite
a retired couple
three coworkers
a young man with round glasses
a woman in a linen dress
an old woman with a walking stick
a tall man in a green parka
a pair of sisters
a family of four
a jogger in a neon windbreaker
a commuter with a folding bicycle
a tourist with a sun hat
a man with a neatly trimmed mustache
a woman with a shaved head and hoop earrings
a bride and groom
a toddler in a knitted hat
a grandfather and his grandson
a mother and her daughter
a man in a wheelchair
a woman with freckles and a warm smile
a student in a school uniform
a teenager with headphones around her neck
a man in a plaid flannel shirt
a woman in a long camel coat
a couple in matching sweaters
two children in raincoats
a young father pushing a stroller
an artist with paint on her sleeves
a man with a grey ponytail
a woman in a bright orange scarf
a bearded man in a beanie
a girl with a gap-toothed grin
a boy in a superhero cape
a woman with a pixie haircut
an older man in a cardigan
a pair of teenage twins
a newlywed couple
a woman in a wide-brimmed straw hat
a man in a crisp white shirt
a girl with two long braids
a sleepy toddler in pajamas
a cyclist in a bright jersey
a group of friends
a woman with a baby in a sling
an old fisherman in a knit sweater
a young woman in a vintage polka dot dress
a man in a corduroy jacket
a shy boy with freckles
a smiling woman with dimples
a family with a golden retriever
a grandmother and her granddaughter
a man with tattoos of flowers on his arms
a teenager on a skateboard
a woman in hiking boots
a man in a rain poncho
an exchange student with a guidebook
a pair of backpackers
a woman in a sari
a man in a kilt
a woman in a hanbok
a man in a turban and a blue shirt
a woman in a hijab and a denim jacket
a man in a kimono
a dancer in a flowing skirt
a chess enthusiast in a cardigan
a birdwatcher with a notebook
a gardener in muddy boots
a woman with a basket of apples
a man with a bouquet of sunflowers
a kid with a melting ice cream cone
a couple of retirees in sun visors
a young woman with a pet parrot on her shoulder
a boy with a toy sailboat
a girl holding a jar of fireflies
a woman in a mustard yellow cardigan
a man with a salt and pepper beard
a young nurse on her day off
a woman with long black hair in a bun
a young man in a rugby shirt
a retired teacher with reading glasses on a chain
a girl in a ladybug costume
a boy wearing oversized rain boots
a man in a bright batik shirt
a woman in a quilted vest
a soft-spoken man in a grey hoodie
a woman with henna on her hands
a couple in their eighties
a man with a camera around his neck
a woman with a tote bag full of vegetables
an aunt and her nephew
a pair of best friends in matching scarves
a group of students in graduation gowns
a family on a bicycle tour
a tall woman in a trench coat
a man in a fisherman's sweater
a woman in cycling gear
a young dad in a baseball cap
a woman with laugh lines and grey curls
a teenager with braces and a big smile
a man in a velvet blazer
a woman in denim overalls
a boy in a sailor shirt
a girl with a butterfly hair clip
a man with a sleeping baby on his chest
a traveler with a rolling suitcase
a woman with a bicycle helmet under her arm
a couple of newlyweds in travel clothes
a boy with a magnifying glass
a young woman in a lab coat
an older woman in a bright tracksuit
twin brothers in identical raincoats
a man with a woolly scarf wrapped twice
a woman with a sunflower tucked behind her ear
a grandfather in a bow tie
a girl with paint on her cheeks
a man in a rain-soaked jacket
a young couple with a new puppy
a woman with a long silver braid
a boy holding a jar of tadpoles
a woman with star-shaped earrings
a quiet man in a navy peacoat
a mother with twins in a double stroller
a man in a yellow hard hat
a student with a violin case
""")

# what people do: anywhere, only indoors, only outdoors (picked to fit the place)
PERSON_ACTIONS = lines("""
reading a paperback
sipping tea from a paper cup
laughing at a joke
talking on the phone
sketching in a notebook
taking a picture with a film camera
eating a crisp green apple
listening to music on headphones
studying a folded paper map
writing in a leather journal
carrying a stack of books
holding a bunch of balloons
tying a shoelace
sharing a plate of dumplings
playing an acoustic guitar
painting with watercolors
watering a row of potted plants
looking out at the view
sitting quietly with a cup of coffee
peeling an orange
taking a selfie
carrying grocery bags
pouring lemonade
playing chess
doing yoga
trying on a hat
carrying a potted fern
laughing with their eyes closed
writing a postcard
sharing earbuds
practicing the violin
sorting seashells
reading a newspaper
hugging a friend
eating a slice of watermelon
looking through a telescope
making a paper airplane
practicing a dance routine
lacing up running shoes
reading to a child
buttoning a coat
sharing a thermos of hot cocoa
snapping a photo of a pastry
holding a warm baguette under one arm
reading a letter with a smile
tucking a flower into a buttonhole
fixing a bicycle chain
carrying a watering can
teaching a child to tie a knot
pouring tea for a friend
trying a sample of cheese
carrying a birthday cake
sitting cross-legged with a sketchbook
putting on a pair of gloves
brushing a dog's coat
kneeling to tie a child's shoe
playing the harmonica
sharing headphones on a bench
sanding an old chair
listening to a podcast
checking the weather on a phone
juggling three oranges
whistling a tune
carrying a tray of cupcakes
holding a paper cup of soup
""")

PERSON_ACTIONS_INDOOR = lines("""
folding laundry
baking cookies
browsing through old records
rolling out pizza dough
feeding goldfish
writing on a chalkboard
unpacking moving boxes
setting the table for dinner
stirring a pot of soup
wrapping a gift
hanging fairy lights
threading a needle
hanging a painting on the wall
rearranging books on a shelf
humming along to the radio
sorting through a box of old photographs
opening a big cardboard box
reading a recipe from a tablet
tasting soup from a wooden spoon
cutting out paper snowflakes
writing a birthday card
arranging flowers in a vase
jotting down a recipe
practicing calligraphy
doing a crossword puzzle
playing cards
looking at a painting
shaking out a rug
repotting a succulent
knitting a scarf
waving from a window
""")

PERSON_ACTIONS_OUTDOOR = lines("""
flying a kite
feeding crumbs to sparrows
waving to a friend across the street
watching the clouds drift by
chatting over a picnic blanket
pushing a bicycle
riding a bicycle
jogging slowly
playing fetch with a dog
drawing with chalk
planting tulip bulbs
picking strawberries
tossing a frisbee
sketching the skyline
unfolding a picnic blanket
balancing on a low wall
leaning on a railing to watch the water
laughing as the wind catches their hair
catching snowflakes on their tongue
counting stars
walking barefoot in the grass
pumping up a bicycle tire
chalking a hopscotch grid
stacking firewood
setting up a tent
planting a small tree
learning to skateboard
stretching their arms in the morning sun
holding an umbrella
blowing soap bubbles
peeking into a shop window
choosing apples at a stall
holding a cone of roasted chestnuts
walking a small dog
feeding a cat on the doorstep
carrying a ladder
pointing at something in the distance
sketching the people passing by
""")

PERSON_PLACES = lines("""
in a sunlit kitchen
on a crowded tram
at a farmers market
in a quiet library
on a park bench
at a bus stop in the rain
on a rooftop garden
in a cozy cafe
by a canal lined with houseboats
on a mountain trail
on a sandy beach
in a flower field
at a train station platform
in a small bookshop
on a wooden pier
in a community garden
on a balcony full of plants
in a laundromat
at a street food stall
in a greenhouse
under a cherry blossom tree
in a snowy courtyard
by a lighthouse
on a ferry deck
in a vintage record store
at a night market
in a museum gallery
on a hillside vineyard path
in an old town square
on the steps of a town hall
in a university courtyard
at a lakeside dock
in a bamboo forest
in a living room with large windows
on a front porch
at a picnic table
in a pottery studio
in a busy airport terminal
on a narrow cobblestone street
in a hotel lobby
at a cafe terrace
in an orchard
at the edge of a wheat field
in a botanical garden
on a city bridge
in a subway car
in a sunroom
at a kitchen table
on a sailboat
in a desert campsite
at a mountain hut
in a snowy forest
on a frozen pond
in a lavender field
at a country fair
in a paddle boat on a lake
on a stone wall overlooking the sea
by a waterfall
on a hotel balcony
in an art supply store
at a flea market
in a tiny apartment
in a treehouse
at a beach bonfire
in a hammock
on a village street
in a tea house
at a bakery counter
in a coworking space
on a grassy hill
in a school hallway
in a rose garden
in a corner bakery
on a quiet country road
at a harbor wall
in a cluttered antique shop
at a crosswalk in the snow
in a sunny courtyard with lemon trees
on a lakeside boardwalk
in a ceramics class
at a roadside fruit stand
in a community center gym
on the deck of a houseboat
in a hillside olive grove
at a crowded ice rink
in an allotment garden
on a mountain summit
in a covered market hall
by a village pond
at a rainy bus shelter
in a quiet chapel garden
on a pebble beach
in a hammock garden
at a sunny outdoor cinema
on a forest boardwalk
at a pier fish market
in a stairwell full of plants
on a double-decker bus
in a hospital waiting room
at a garden center
in a desert oasis
on the steps of a library
in a wildflower meadow
at a train window seat
in a snowy park
on a sunny terrace
in a fabric shop
beside a duck pond
on a houseboat roof
at an airport gate
in a hilltop village
in a maple grove
at a riverside cafe
""")

# profession | actions separated by ";" | places separated by ";"
PROFESSIONS = lines("""
a baker | shaping loaves of sourdough; dusting flour over a wooden counter; pulling croissants from the oven | in a small bakery at dawn; in a flour-dusted kitchen
a barista | pouring latte art into a white cup; grinding fresh coffee beans; writing the daily menu on a chalkboard | behind a busy cafe counter; in a tiny espresso bar
a florist | tying a bouquet of peonies; trimming rose stems; arranging a wedding centerpiece | in a flower shop full of buckets of tulips; at a market flower stall
a carpenter | sanding a tabletop; measuring a plank with a tape; fitting a drawer into a cabinet | in a woodshop full of sawdust; in a half-finished attic
a potter | throwing a bowl on a spinning wheel; glazing a row of mugs; trimming a clay vase | in a sunny ceramics studio; in a garden workshop
a chef | plating a colorful salad; tasting a sauce from a spoon; tossing vegetables in a wok | in a busy restaurant kitchen; at an open kitchen counter
a teacher | pointing at a map on the wall; reading a story to the class; handing out worksheets | in a bright classroom; in a school library
a nurse | checking a patient's pulse; smiling while writing on a clipboard; adjusting a pillow for an elderly patient | in a calm hospital ward; at a community clinic
a doctor | listening to a heartbeat with a stethoscope; explaining an x-ray on a lightbox; chatting with a patient | in a tidy consulting room; in a hospital corridor
a veterinarian | examining a puppy's ears; weighing a cat on a scale; bandaging a calf's leg gently | in a small animal clinic; on a dairy farm
a fisherman | mending a green net; hauling crates onto the dock; steering a small boat out of the harbor | in a foggy harbor; on a weathered wooden pier
a farmer | driving a tractor along the rows; feeding chickens at sunrise; harvesting pumpkins | on a family farm; in a wide golden wheat field
a beekeeper | lifting a honeycomb frame; checking a beehive in a veiled hat; pouring honey into jars | in a meadow full of clover; beside a row of white hives
a tailor | pinning the hem of a suit; measuring a customer's shoulders; sewing buttons onto a jacket | in a narrow tailor shop; in a workshop full of fabric rolls
a librarian | shelving returned books; stamping a library card; helping a student find a book | in a grand old library; in a small town library
a watchmaker | repairing a pocket watch with tweezers; polishing a tiny gear; inspecting a clock face with a loupe | at a cluttered workbench; in a quiet repair shop
a mechanic | changing a tire; checking the oil of a vintage car; wiping grease off his hands | in a small garage; at a roadside repair shop
an architect | sketching a building on tracing paper; studying a scale model; pointing at blueprints | in a bright design studio; on a construction site with a hard hat
a scientist | looking into a microscope; pipetting blue liquid into test tubes; writing notes on a whiteboard | in a clean laboratory; in a university lab
an astronomer | adjusting a large telescope; pointing at the milky way; reading star charts | in an observatory dome at night; on a desert hilltop at night
a painter | mixing colors on a palette; painting a landscape on an easel; stepping back to look at a canvas | in a loft studio; in an open field at sunset
a musician | tuning a cello; playing a saxophone; practicing scales on a piano | in a rehearsal room; on a small jazz club stage
a street performer | juggling colorful pins; playing the accordion; making giant soap bubbles | in a busy plaza; on a seaside promenade
a photographer | adjusting a tripod; changing a lens; reviewing shots on a camera screen | in a portrait studio; on a cliff at sunrise
a gardener | pruning a hedge into shape; planting seedlings in neat rows; watering tomato plants | in a walled kitchen garden; in a public park
a ballet dancer | tying pointe shoes; stretching at the barre; practicing a pirouette | in a mirrored rehearsal studio; on an empty theater stage
a firefighter | washing the fire engine; giving a safety talk to schoolchildren; coiling a long hose | at a fire station; in a town square during an open day
a pilot | doing a preflight check; waving from the cockpit window; walking across the tarmac | at a small airfield; on a sunny runway
a flight attendant | serving drinks from a cart; smiling at passengers; closing the overhead bins | in an airplane cabin; at a boarding gate
a lifeguard | watching the waves from a tall chair; jogging along the shoreline; waving a red flag | on a busy summer beach; at a public swimming pool
a mail carrier | delivering letters to a row of houses; sorting envelopes into a bag; waving to a neighbor | on a leafy suburban street; outside a post office
a shopkeeper | arranging apples in a crate; counting change at the register; sweeping the front step | in a corner grocery store; in a village shop
a cobbler | stitching a leather boot; polishing a pair of brown shoes; gluing a new heel | in a tiny shoe repair shop; at a market stall
a blacksmith | hammering a glowing horseshoe; pulling metal from the forge; shaping a decorative hook | in a smoky forge; in a village smithy
a glassblower | shaping a blue glass vase; blowing through a long pipe; turning molten glass | in a hot glass studio; in an artisan workshop
a weaver | working at a wooden loom; spinning wool into yarn; tying off a finished rug | in a bright textile studio; in a mountain village house
a tea farmer | picking tea leaves by hand; carrying a woven basket; sorting leaves on a tray | on terraced tea hills; in a misty plantation
a sushi chef | slicing salmon for nigiri; shaping rice with quick hands; garnishing a platter | behind a wooden sushi counter; in a tiny restaurant
a street vendor | flipping crepes on a hot plate; grilling corn on the cob; handing a bag of roasted chestnuts | at a night market; on a busy sidewalk in winter
a park ranger | pointing out birds to visitors; checking a trail sign; leading a nature walk | in a national park; at a forest visitor center
a zookeeper | feeding giraffes from a platform; hosing down an elephant; scattering seeds for flamingos | at a sunny zoo; in a wildlife sanctuary
a marine biologist | photographing coral underwater; measuring a sea turtle's shell; counting fish from a boat | on a research boat; in a coral reef
a hairdresser | blow drying a customer's hair; trimming bangs carefully; braiding a client's hair | in a retro hair salon; in a bright barbershop
a barber | trimming a beard with scissors; lathering a customer's cheeks; brushing off a fresh haircut | in an old-fashioned barbershop; in a corner shop with striped awning
a yoga instructor | leading a sunrise class; demonstrating a tree pose; rolling up a mat | on a beach at dawn; in a studio with wooden floors
a software developer | typing code on two monitors; sketching a diagram on a whiteboard; pairing with a colleague | in a modern open office; at a home desk with plants
a journalist | interviewing a farmer; typing on a laptop at a cafe; taking notes at a press conference | at a town hall meeting; in a busy newsroom
a lighthouse keeper | polishing the great lens; climbing the spiral stairs; writing in the logbook | in a lighthouse tower; on a windy rocky island
a cheesemaker | turning wheels of cheese; stirring curds in a copper vat; slicing a wedge for tasting | in a stone cellar; in a mountain dairy
a chocolatier | tempering chocolate on marble; piping ganache into shells; decorating truffles with gold leaf | in a chocolate shop kitchen; behind a glass display counter
a bus driver | waving to passengers; checking the mirrors; pulling into a stop | on a double-decker bus; on a rural road
a train conductor | checking tickets; leaning out of the door with a whistle; announcing the next stop | on a vintage steam train; on a mountain railway
a tour guide | holding up a small flag; explaining a mosaic to a group; leading tourists through a castle | in an ancient courtyard; in a cathedral square
a calligrapher | writing elegant letters with a brush; grinding ink on a stone; signing a finished scroll | at a low wooden desk; in a quiet study
a violin maker | carving a violin scroll; varnishing a finished body; stringing a new instrument | in a workshop full of hanging violins; at a sunny bench
a sailor | hoisting a white sail; coiling rope on deck; steering the helm | on a wooden sailboat; in a windy harbor
a surfer instructor | teaching a beginner to pop up; waxing a surfboard; pointing at incoming waves | on a sandy beach; in shallow turquoise water
a pastry chef | piping cream onto eclairs; glazing a fruit tart; dusting powdered sugar over a cake | in a patisserie kitchen; behind a pastry counter
a nanny | pushing a swing at the playground; reading a picture book; helping with a puzzle | in a city park; in a cheerful playroom
a delivery cyclist | riding with a large insulated backpack; checking an address on a phone; handing over a pizza box | on a rainy city street; outside an apartment building
a window cleaner | wiping a tall glass pane; climbing a ladder; squeegeeing a shop front | on a sunny high street; outside a glass office building
a cartographer | drawing coastlines by hand; studying an old atlas; measuring distances with a compass | in a map room; at a drafting table
a puppeteer | moving a marionette on strings; painting a puppet's face; performing for children | in a tiny puppet theater; at a summer fair
a bookbinder | stitching a spine; pressing a leather cover; gilding the edges of pages | in a bindery workshop; at a sunny workbench
a shepherd | guiding sheep along a hillside; carrying a lamb; resting on a stone wall | in green highland hills; on a misty mountain pasture
a grocer | stacking oranges into a pyramid; weighing tomatoes on a scale; chatting with a customer | at an open-air market; in a neighborhood produce shop
a scuba diver | floating over a coral garden; swimming alongside a sea turtle; checking a dive watch | in clear blue water; near a colorful reef
an illustrator | inking a comic panel; coloring a sketch on a tablet; pinning drawings to a wall | in a cluttered home studio; in a bright co-op studio
a carpenter's apprentice | sweeping wood shavings; holding a board steady; learning to use a chisel | in a busy workshop; in a timber yard
a crossing guard | holding up a stop sign; helping children cross; waving at passing cars | at a school crosswalk; on a quiet residential street
""")

ANIMAL_GROUPS = {
    "pets": (
        lines("""
a ginger cat
a fluffy white kitten
a black cat with green eyes
a golden retriever puppy
a corgi
a dachshund in a tiny sweater
a border collie
a pug
a husky with blue eyes
a tabby cat
a dalmatian
a sleepy bulldog
a pair of guinea pigs
a hamster
a lop-eared rabbit
a cockatiel
a budgie
a goldfish
a siamese cat
a shiba inu
a poodle with a fresh trim
a greyhound
a beagle
a calico cat
a french bulldog
        """),
        lines("""
napping in a patch of sunlight
chasing a red ball
peeking out of a cardboard box
curled up on a knitted blanket
sitting by the window watching the rain
playing with a ball of yarn
stretching after a nap
running across the lawn
waiting by the front door
rolling on its back in the grass
sniffing a flower
carrying a stick in its mouth
wearing a tiny birthday hat
sitting in a basket of laundry
tilting its head at the camera
splashing through a puddle
yawning widely
lying on a pile of autumn leaves
        """),
    ),
    "farm": (
        lines("""
a spotted dairy cow
a pair of brown horses
a woolly sheep
a baby goat
a flock of chickens
a proud rooster
a family of ducks
a pink piglet
a donkey
a highland cow with long horns
a white goose
an alpaca
a llama
a shetland pony
a turkey with fanned feathers
        """),
        lines("""
grazing in a green pasture
standing by a wooden fence
eating hay in a red barn
wandering through a muddy farmyard
resting in the shade of an oak tree
drinking from a water trough
walking along a country lane
peering over a stone wall
lying in fresh straw
standing in a field of wildflowers
trotting across a meadow
nuzzling a farmer's hand
        """),
    ),
    "wild": (
        lines("""
a red fox
a family of deer
an elephant
a giraffe
a zebra
a snow leopard
a brown bear
a panda
a koala
a kangaroo
a moose
a raccoon
a hedgehog
a squirrel
a sloth
a meerkat
a lion
a tiger
a gorilla
an orangutan
a polar bear
a wolf
a lynx
a river otter
a capybara
a red panda
a bison
a hippo
a rhinoceros
a chipmunk
        """),
        lines("""
walking through tall grass
resting under an acacia tree
drinking at a watering hole
standing in fresh snow
climbing a tree
sitting on a mossy log
looking into the camera
crossing a shallow river
basking on a warm rock
foraging on the forest floor
sleeping in a tree fork
peeking from behind a bush
strolling across the savanna
sniffing the morning air
playing with its siblings
grooming its fur
        """),
    ),
    "birds": (
        lines("""
a snowy owl
a pair of swans
a kingfisher
a flock of flamingos
a hummingbird
a bald eagle
a peacock
a robin
a puffin
a toucan
a great blue heron
a pair of lovebirds
a barn owl
a penguin colony
a woodpecker
a scarlet macaw
a crane
a blue jay
        """),
        lines("""
perched on a snowy branch
gliding over a calm lake
hovering beside a red flower
wading in shallow water
spreading its wings
standing on a rocky cliff
sitting in a nest
drinking from a birdbath
flying against a pink sky
preening its feathers
perched on a fence post
landing on a mossy stump
        """),
    ),
    "sea": (
        lines("""
a sea turtle
a humpback whale
a pod of dolphins
a clownfish
a manta ray
an octopus
a school of silver fish
a harbor seal
a jellyfish
a seahorse
a sea otter
a starfish
a walrus
a colorful nudibranch
        """),
        lines("""
swimming over a coral reef
gliding through blue water
floating near the surface
resting on the sandy sea floor
hiding among sea anemones
playing in the waves
drifting in a kelp forest
lounging on a rocky shore
circling in a sunlit lagoon
exploring a shipwreck
        """),
    ),
    "small": (
        lines("""
a ladybug
a monarch butterfly
a honeybee
a dragonfly
a tree frog
a snail
a garden lizard
a firefly
a bumblebee
a praying mantis
a grasshopper
a caterpillar
        """),
        lines("""
resting on a dewy leaf
sitting on a daisy
crawling along a twig
perched on a lily pad
climbing a stem of grass
visiting a lavender flower
glowing in the dusk
sitting on a mossy stone
        """),
    ),
}

FOODS = lines("""
a stack of blueberry pancakes with maple syrup
a bowl of miso ramen with a soft egg
a margherita pizza fresh from a wood oven
a slice of strawberry shortcake
a plate of spaghetti with tomato sauce and basil
a steaming bowl of pho with herbs
a basket of warm croissants
a colorful poke bowl
a tray of assorted sushi
a bowl of tomato soup with a grilled cheese sandwich
a rustic loaf of sourdough bread
a cheese board with grapes and figs
a chocolate layer cake
a bowl of fresh berries
a cup of cappuccino with latte art
a plate of tacos with lime wedges
a pot of vegetable curry
a stack of french toast with bananas
a lemon tart with meringue
a salad of heirloom tomatoes and mozzarella
a bowl of bibimbap
a plate of dim sum in bamboo steamers
a jar of homemade strawberry jam
a platter of roasted vegetables
a bowl of creamy risotto with mushrooms
a glass of iced matcha latte
a tray of macarons in pastel colors
a slice of apple pie with cinnamon
a bowl of granola with yogurt and honey
a plate of pad thai
a falafel wrap with tahini
a bowl of oatmeal with berries
a steaming cup of hot chocolate with marshmallows
a plate of fluffy scrambled eggs on toast
a fruit tart with glazed kiwi and berries
a bowl of guacamole with tortilla chips
a stack of waffles with whipped cream
a bowl of udon noodles with tempura vegetables
a plate of paella with saffron rice
a basket of fresh bagels
a bento box with rice and vegetables
a bowl of lentil soup with crusty bread
a tray of cinnamon rolls with icing
a plate of gnocchi with pesto
a mango smoothie bowl topped with coconut
a plate of sugar cookies shaped like stars
a warm pretzel with mustard
a bowl of chilled gazpacho
a slice of watermelon on a hot day
a stack of crepes with lemon and sugar
a pot of fondue with bread cubes
a bowl of popcorn
a plate of spring rolls with dipping sauce
a tiramisu in a glass
a bowl of hummus drizzled with olive oil
a loaf of banana bread
a plate of pierogi with sour cream
a pot of jollof rice
a bowl of ramen with corn and nori
a plate of fresh oysters on ice
a wedge of brie with honey
a bowl of mixed olives
a basket of colorful vegetables from the market
a gingerbread house decorated with candy
a plate of churros with chocolate sauce
a bowl of cherry tomatoes
a cup of jasmine tea
a pitcher of fresh lemonade with mint
a plate of fish and chips
a bowl of mac and cheese
a slice of cheesecake with cherries
a plate of pasta carbonara
a steaming bowl of dumpling soup
a tray of freshly baked baguettes
a plate of grilled salmon with asparagus
a bowl of chili with cornbread
a box of glazed donuts
a bowl of acai with sliced bananas
a cup of chai with spices
a plate of injera with colorful stews
a bowl of tom yum soup
a plate of samosas with chutney
a skillet of shakshuka
a bowl of congee with scallions
a stack of buttermilk biscuits
a plate of empanadas
a bowl of borscht with a dollop of cream
a pan of focaccia with rosemary
a plate of mochi in soft colors
a coconut cut open with a straw
a bowl of cereal with milk
a basket of ripe peaches
a cutting board of sliced vegetables
a plate of baklava with pistachios
a jar of pickled cucumbers
a bowl of cold soba noodles
a birthday cake with lit candles
a plate of arancini
a bowl of ice cream with sprinkles
a plate of sweet potato fries
a bowl of cold noodles with sesame
a slice of carrot cake with walnuts
a pot of mint tea with glasses
a tray of roasted chestnuts
a bowl of wonton soup
a plate of grilled corn with lime
a baked potato with chives
a fig and goat cheese tart
a pavlova with passion fruit
a jar of overnight oats
a tray of lemon bars
a bowl of miso soup with tofu
a plate of caprese skewers
a bunch of purple grapes
a stack of tortillas on a griddle
a pan of cornbread
a steaming pot of mussels in broth
a plate of halloumi with watermelon
a bowl of dal with rice
a stack of pita bread
a basket of blackberries
a plate of ratatouille
a bowl of ceviche
a mug of pumpkin spice latte
a pear tart with almonds
a plate of gyoza
a bowl of vegetable stir fry
a loaf of rye bread with seeds
a cup of espresso on a saucer
a bowl of pomegranate seeds
a dish of baked mac with breadcrumbs
a plate of stuffed peppers
a crepe filled with strawberries
a bowl of tomato bruschetta
a sandwich with avocado and sprouts
a bowl of butternut squash soup
a slice of key lime pie
a plate of jiaozi with vinegar
a batch of oatmeal raisin cookies
""")

FOOD_SHOTS = lines("""
overhead flat lay of
close-up of
food photography of
a rustic still life of
a macro shot of
a cozy photo of
an editorial food photo of
a watercolor illustration of
a styled photo of
a cookbook photo of
a menu photo of
a minimalist photo of
""")

SURFACES = lines("""
on a marble counter
on a rustic wooden table
on a checkered tablecloth
on a blue ceramic plate
on a slate board
on a linen napkin
on a sunny windowsill
on a cafe table by the window
on a kitchen island
on a terracotta tile floor
on a white tablecloth
on a low japanese table
on a maple wood counter
on a tray in bed
on a bamboo mat
on a patterned tile table
""")

LANDSCAPES = lines("""
a turquoise mountain lake surrounded by pine trees
a field of sunflowers stretching to the horizon
a misty bamboo forest
rolling green hills dotted with sheep
a desert with orange sand dunes
a rocky coastline with crashing waves
a quiet fjord with steep cliffs
a lavender field in provence
a snowy alpine village
a terraced rice paddy
a red canyon at sunset
a waterfall in a lush rainforest
a frozen lake under the northern lights
a birch forest in autumn
a tulip field with a windmill
a tropical beach with palm trees
a volcanic black sand beach
a winding river through a valley
a meadow of wildflowers
a salt flat reflecting the sky
a glacier with blue ice caves
a vineyard on rolling hills
a cherry blossom park
a mossy old growth forest
a small island with a lighthouse
a tea plantation on misty hills
a prairie with a lone oak tree
a mountain pass with switchback roads
a coral atoll seen from above
a cactus garden in the desert
a marsh with tall reeds
a limestone cave with a still pool
a snow-covered pine forest
a hilltop monastery above the clouds
a golden wheat field
a foggy moor with stone walls
a sea stack off a grassy cliff
a river delta from above
a calm lagoon at dawn
a maple forest with red leaves
a lotus pond
a pebble beach with driftwood
a highland valley with a stone bridge
a sandstone arch under the stars
a bay with colorful fishing boats
a canyon river with kayaks
an orchard in bloom
a mountain ridge above a sea of clouds
a hot spring steaming in the snow
a countryside road lined with poplars
a canola field in bright yellow bloom
a mountain meadow with grazing cows and bells
a mangrove forest at low tide
a chain of lakes seen from a ridge
a sandy spit curving into the sea
a heather moor in late summer
a quiet cove with clear green water
a row of haystacks in a golden field
a rainbow over a green valley
a basalt column coastline
a river of fog between mountains
a slot canyon glowing orange
a savanna with a lone acacia tree
a taiga forest by a wide river
a flooded meadow reflecting the clouds
a poppy field under a soft grey sky
a chalk cliff above a turquoise sea
an aspen grove with golden leaves
a mountain tarn with a stone cairn
a windswept dune with beach grass
a high plateau with wild horses
a crater lake with a small island
a coastal meadow full of sea pinks
a bamboo-lined river valley
a pine-covered island in a still lake
a sunrise over layered blue mountains
a frozen waterfall in a canyon
a red rock mesa under big clouds
a lush tea valley after rain
a riverbend with sandbars and birches
a green valley with terraced vineyards
a field of cotton grass in a bog
a wide beach at low tide with mirror puddles
a snowy ridge with wind-carved cornices
a gentle stream under ferns
a moss-covered boulder field
a tundra plain in autumn colors
a coastal path above wildflower cliffs
an emerald lake under a glacier
a sunflower-lined country road
""")

CITYSCAPES = lines("""
a narrow street of colorful houses
a busy crosswalk in a big city
a canal with arched stone bridges
a rooftop view over terracotta roofs
a city skyline reflected in a river
a quiet alley with hanging lanterns
a harbor town with pastel buildings
a market square with a fountain
a tram line through an old city
a train station with a glass roof
a suburban street with autumn trees
a seaside promenade with ice cream stands
a neon lit street after rain
a hillside town with whitewashed houses
a cobblestone lane with flower boxes
a modern plaza with a reflecting pool
a floating market with wooden boats
a rooftop cafe overlooking a cathedral
a row of victorian townhouses
a city park with a pond and paddle boats
a covered bazaar with colorful textiles
a quiet residential street in the snow
a riverside boardwalk with string lights
an old port with stone warehouses
a bustling chinatown street
a mountain town with wooden chalets
a windmill village by a canal
a desert town with adobe houses
a futuristic city with glass towers and gardens
a fishing village on stilts
a quiet street of brownstones with stoops
a rooftop full of water tanks at dawn
a tiny alley cafe with two tables
a busy morning at a bicycle parking lot
a plaza with pigeons and a clock tower
a street of shops with hand-painted signs
a bridge full of commuters on bicycles
a hillside staircase street with potted plants
a waterfront with a giant ferris wheel
a quiet shopping arcade with a glass ceiling
a colorful favela hillside with laundry lines
a street lined with jacaranda trees in bloom
a historic town gate with a cobbled road
a small town main street with a diner
a skyline of glass towers at dawn
a marina full of white yachts
a rooftop basketball court
a canal-side street with houseboats
a tree-lined boulevard with newspaper kiosks
a quiet library plaza with reading benches
a morning fish market by the port
a neighborhood with colorful wooden houses
a city garden hidden between towers
a lantern festival street
a snowy square with a christmas tree
a bustling pedestrian bridge at sunset
a park with a bandstand and benches
a seaside town with a pier and arcades
a hillside village of stone houses
a train crossing a city bridge
""")

INTERIORS = lines("""
a cozy reading nook with a window seat
a scandinavian living room with light wood
a sunlit kitchen with open shelves
a library with tall wooden shelves and a rolling ladder
a greenhouse cafe full of hanging plants
a minimalist bedroom with linen sheets
a vintage diner with red booths
a loft studio with brick walls
a bathroom with green tiles and a clawfoot tub
a tea room with paper lanterns
a grand hotel lobby with a chandelier
a tiny apartment with a bicycle on the wall
a classroom with colorful drawings
a bakery interior with glass cases
a music room with a grand piano
a japanese tatami room with sliding doors
a cabin interior with a wood stove
a home office with a big window and plants
a children's playroom with a teepee
a bookshop with a sleeping cat
a pottery studio with shelves of bowls
a train dining car with white tablecloths
a spiral staircase in an old tower
a laundromat with pastel machines
a museum hall with marble floors
a tiny cafe with mismatched chairs
a sunroom with wicker furniture
an attic bedroom with a round window
a modern kitchen with a marble island
a workshop with neatly hung tools
a sewing room full of fabric and spools
a surf shop with boards on the walls
a recording studio with a mixing desk
a planetarium dome with stars on the ceiling
a cozy pub corner with a fireplace and board games
a candle shop with shelves of glass jars
a conservatory with palm trees
a small chapel with stained glass light
a boat cabin with wooden bunks
a plant shop overflowing with greenery
a tidy garage workshop with a bicycle on a stand
a toy shop with a model train
a hallway with patterned tiles
a secondhand clothing store
a ramen shop counter with paper lanterns
a bright dental office waiting room
a reading room with green lamps
a yoga studio with bamboo floors
an artist's loft with canvases stacked against the wall
a hotel room with a balcony view of the sea
a kitchen with copper pots hanging
a nursery with a crib and a mobile of clouds
a tiny library in a converted train car
a market hall with hanging lamps
a farmhouse dining room with a long table
a glass elevator in an atrium
a boutique with hats on stands
a bakery kitchen at dawn
a clockmaker's shop with ticking clocks
a sunlit stairwell with a skylight
""")

OBJECTS = lines("""
a ceramic teapot
a pair of leather boots
a vintage typewriter
a brass desk lamp
a wicker picnic basket
a stack of hardcover books
a film camera
a wristwatch with a leather strap
a glass terrarium
a pair of wireless headphones
a handmade mug
a canvas tote bag
a set of watercolor paints
a potted monstera plant
a fountain pen and notebook
a pair of white sneakers
a wooden chess set
a scented candle in a glass jar
a woven wool blanket
a retro radio
a bouquet of dried flowers
a skateboard with a painted deck
a globe on a wooden stand
a vinyl record player
a copper kettle
a pair of sunglasses
a knitted beanie
a smartphone on a stand
a mechanical keyboard
a snow globe
a hot air balloon toy
a porcelain vase
an hourglass
a paper lantern
a wooden rocking horse
a compass and an old map
a set of colored pencils
a stack of vintage suitcases
a bicycle helmet
a rain umbrella with a wooden handle
a cast iron pan
a glass water bottle
a desk plant in a concrete pot
a pair of ice skates
a music box
a straw sun hat
a backpack with many pockets
a bamboo cutting board
a lantern with a candle
a toy robot
a ukulele
a set of paintbrushes in a jar
a pair of binoculars
a wooden spoon collection
a handmade quilt
a perfume bottle
a pocket watch
a camping tent
a teddy bear
a modern armchair
a pair of knitted mittens
a leather satchel
a ceramic vase with dried grasses
a vintage alarm clock
a terrarium with tiny ferns
a bamboo steamer basket
a stack of colorful notebooks
a vintage camera with a leather case
a glass jar of buttons
a pair of rain boots with polka dots
a brass telescope
a pottery bowl with a blue glaze
a retro television set
a loom with half-woven fabric
a set of nesting dolls
a hand-painted teacup
a bicycle bell
a wooden puzzle box
a lava lamp
a houseplant in a woven basket
a pair of roller skates
a cuckoo clock
a stack of vinyl records
a velvet armchair
an electric guitar on a stand
a drawing tablet with a stylus
a kite made of rice paper
a crystal paperweight
a hand-knit sweater
a stack of wooden bowls
a brass candle holder
a pair of hiking poles
a tin robot toy
a thermos flask
a painted ceramic tile
a fountain pen with gold nib
a marble chess board
a glass jar of colored sand
a beach towel with stripes
a wooden desk organizer
""")

PRODUCT_SHOTS = lines("""
product photo of
studio shot of
catalog photo of
a flat lay featuring
a close-up of
a soft-lit photo of
a minimalist render of
a lifestyle photo of
an isometric 3d render of
a vintage advertisement for
a technical drawing of
a clay render of
""")

PRODUCT_BACKDROPS = lines("""
on a pastel pink background
on a white seamless backdrop
on a wooden shelf
on a sunny desk
next to a window with sheer curtains
on a concrete pedestal
on a bed of moss
on a terrazzo surface
with soft shadows
on a linen tablecloth
in a cozy living room
on a glass table
""")

VEHICLE_GROUPS = {
    "road": (
        lines("""
a red vintage convertible
a yellow school bus
a green double-decker bus
a classic blue pickup truck
a white camper van
a vintage scooter
a cargo bike
a mountain bike
an ice cream truck
a food truck
an electric car
a city bicycle with a basket
a tuk-tuk
a mint green vintage van
a tractor pulling a hay wagon
a snowplow
        """),
        lines("""
driving along a coastal road
parked outside a bakery
crossing a stone bridge
passing a field of sunflowers
waiting at a quiet crossroads
climbing a mountain pass
rolling through a small village
parked under cherry blossoms
moving past colorful houses
traveling down a long desert highway
winding through an autumn forest
parked by a seaside cafe
        """),
    ),
    "rail": (
        lines("""
a steam locomotive
a high-speed train
a vintage tram
a cable car
a red mountain train
a funicular
        """),
        lines("""
crossing a curved stone viaduct
pulling into a small country station
climbing through snowy mountains
gliding past rice fields
winding along a lakeshore
rattling down a narrow city street
        """),
    ),
    "water": (
        lines("""
a wooden sailboat
a canal boat painted with flowers
a fishing trawler
a gondola
a paddle steamer
a motorboat
a yellow kayak
a small ferry
a houseboat
a rowing boat
        """),
        lines("""
gliding over a calm bay
resting in a harbor at dusk
drifting down a quiet canal
crossing a wide river
moored beside a wooden jetty
leaving a white wake on blue water
passing under an arched bridge
anchored near a sandy island
        """),
    ),
    "air": (
        lines("""
a hot air balloon
a small seaplane
a glider
a red biplane
a zeppelin-shaped blimp
        """),
        lines("""
drifting over green hills
floating above a patchwork of fields
landing on a mountain lake
soaring past white clouds
rising over a misty valley
        """),
    ),
}

SPORTS = lines("""
a surfer riding a glassy wave at a quiet point break
a tennis player serving on a red clay court
a group of cyclists climbing a hairpin road in the alps
a skier carving through fresh powder below a snowy peak
a snowboarder catching air over a snowy kicker
a basketball player going for a layup on an outdoor court
a soccer team celebrating a goal in a packed stadium
a swimmer doing the butterfly stroke in an indoor pool
a runner crossing the finish line of a city marathon
a gymnast balancing on the beam in a bright arena
a rock climber on a sandstone wall above the desert
a kayaker paddling through white rapids
a figure skater spinning on an ice rink under spotlights
a golfer teeing off on a green course at sunrise
a volleyball player diving for the ball on the beach
a rower gliding across a misty lake at dawn
a skateboarder doing a kickflip in a concrete skatepark
a crowd cheering runners along a marathon route
two badminton players rallying in a school gym
a baseball pitcher winding up on a sunny afternoon
a fast table tennis rally in a community hall
a cricket batter hitting the ball on a village green
a sailing crew racing past a lighthouse
a kitesurfer flying over turquoise water
a paraglider soaring above green hills
a horse rider jumping a fence at a country show
a family ice skating on a frozen pond
a diver leaping from a high board into a blue pool
a cross-country skier gliding through a snowy forest
a hockey goalie making a save in a local rink
a rugby team packing into a scrum on a muddy pitch
a triathlete cycling along a coastal road
a trail runner on a rocky ridge above the clouds
a frisbee player leaping for a catch on a college lawn
climbers chalking up in a colorful bouldering gym
a curling team sweeping the ice in a quiet arena
a unicyclist riding along a seaside promenade
a cheerleading squad forming a pyramid on a football field
a paddleboarder gliding over a calm bay
a girl practicing cartwheels on a summer lawn
a fishing kayak drifting on a still lake at dawn
a boy practicing free kicks in a backyard
a girl on a balance bike in a park
a group of friends playing beach volleyball at sunset
a wheelchair basketball player shooting a hoop
a ballerina warming up backstage
a pair of dancers in a ballroom competition
a rollerblader cruising along a seaside path
a group of seniors practicing tai chi in a park
a mountain biker riding down a forest trail
a long jumper landing in the sand pit
a sprinter bursting from the starting blocks
a pole vaulter arching over the bar
a water polo player passing the ball
a snowshoer crossing a quiet white meadow
a surfing dog riding a small wave
a team of rowers in an eight on a river
a bobsled team pushing off at the start
a pickleball game at a neighborhood court
a kid learning to swim with a float board
""")

STYLES = lines("""
oil painting
watercolor painting
35mm film photo
anime still
pixel art
ukiyo-e woodblock print
charcoal sketch
pencil drawing
children's book illustration
gouache painting
claymation still
low poly 3d render
isometric illustration
polaroid photo
cinematic still
tilt-shift photo
infrared photo
impressionist painting
art nouveau poster
vintage travel poster
flat vector illustration
stained glass window
mosaic tile art
papercut illustration
embroidery pattern
linocut print
digital painting
concept art
matte painting
cyanotype print
double exposure photo
long exposure photo
black and white photo
sepia photograph
medium format film photo
disposable camera snapshot
studio portrait
documentary photo
editorial magazine photo
street photography
national geographic style photo
cel shaded render
unreal engine render
octane render
pastel chalk drawing
comic book panel
manga panel
storybook illustration
retro 80s airbrush art
synthwave poster
art deco poster
chinese ink wash painting
renaissance fresco
baroque oil painting
pointillist painting
cubist painting
pop art print
risograph print
blueprint drawing
botanical illustration
tapestry
crayon drawing
hand-drawn doodle
isometric pixel art
3d clay render
voxel art
lego diorama
miniature diorama photo
needle felted figures
origami diorama
watercolor and ink sketch
soft pastel illustration
gothic cathedral window style
folk art painting
aboriginal dot painting style artwork
japanese anime background art
studio lighting photo
fashion lookbook photo
wes anderson style symmetrical photo
film noir still
technicolor film still
super 8 film frame
vhs camcorder frame
webcam snapshot
iphone photo
drone photo
risograph zine illustration
collage of magazine cutouts
chalkboard art
mural painting
watercolor travel sketch
scientific illustration
architectural rendering
retro video game screenshot
8-bit sprite art
hand-colored vintage photograph
daguerreotype
lomography photo
analog film photo with light leaks
photorealistic render
hyperrealistic painting
sumi-e brush painting
batik fabric pattern
persian miniature painting
mexican folk art painting
scandinavian folk illustration
bauhaus poster
swiss style poster
mid-century modern illustration
1970s paperback cover art
vintage postcard
line art
ink drawing with cross-hatching
soft watercolor with salt texture
colored pencil illustration
marker sketch
acrylic painting with thick brushstrokes
thick impasto painting
tonal graphite study
felt-tip pen doodle
embroidered patch design
quilt pattern
sticker design
app icon illustration
children's picture book spread
animated film still
""")

CAMERA = lines("""
wide shot
close-up
extreme close-up
medium shot
shallow depth of field
85mm portrait lens
24mm wide angle
aerial view
low angle
high angle
eye level
fisheye lens
macro lens
telephoto compression
bokeh background
rule of thirds composition
symmetrical composition
overhead view
dutch angle
silhouette against the sky
soft focus
sharp focus
film grain
anamorphic lens flare
over the shoulder view
centered composition
candid framing
establishing shot
35mm lens
50mm lens
wide angle lens
ultra wide lens
135mm telephoto
f/1.8 aperture
deep focus
leading lines
negative space
golden ratio composition
framed through a doorway
reflection in a window
seen through leaves
top-down angle
worm's eye view
bird's eye view
three-quarter view
profile view
long lens from across the street
handheld snapshot
motion blur
freeze frame
natural colors
high dynamic range
soft vignette
crisp detail
pastel grading
warm color grade
cool color grade
slightly overexposed
""")

# camera moves that suit any subject, and moves that only make sense over a wide scene
MOTIONS_CLOSE = lines("""
slow pan across
timelapse of
slow dolly in on
a tracking shot of
handheld footage of
an orbiting shot around
slow motion footage of
a steady gimbal shot of
a slow zoom out from
a whip pan to
a static shot of
a push in toward
a rack focus from foreground to
a looping animation of
a dolly zoom on
a slow arc around
a close tracking shot of
a gentle handheld drift toward
a locked-off shot of
a slow zoom in on
a macro slider shot across
a slow push past foreground leaves to
""")

MOTIONS_WIDE = lines("""
a drone shot following
a crane shot rising over
a hyperlapse through
a low tracking shot alongside
a first person view moving through
an aerial flyover of
a slow time-lapse over
a gentle tilt up over
a pull back revealing
a sweeping aerial pan over
a high drone shot descending onto
a long lateral dolly past
a fpv drone dive toward
a wide establishing pan over
""")

VIDEO_FORMATS = lines("""
4k video
cinematic 24fps
smooth gimbal footage
60fps slow motion
8k footage
documentary footage
vlog style video
music video look
nature documentary footage
film trailer shot
home video
short looping clip
slow cinematic pacing
travel vlog footage
commercial style footage
timelapse photography
stop motion animation
anime opening sequence
cozy lo-fi loop
steadycam footage
35mm film look
hd video
short film scene
nature channel footage
drone footage
film festival look
""")

LIGHT_OUTDOOR = lines("""
under overcast skies
in light drizzle
at blue hour
on a foggy morning
during a gentle snowfall
at sunrise
at sunset
at midday
under a full moon
after a summer rain
in dappled sunlight
on a crisp autumn morning
on a windy spring day
under a rainbow
on a hazy summer evening
in morning mist
under a starry sky
on a cloudy winter afternoon
under clear blue skies
during a light sea breeze
in pastel dawn light
in the first light of day
under a pink evening sky
under scattered clouds
on a bright frosty morning
in the soft light after sunset
as the sun breaks through clouds
on a humid tropical afternoon
during the last light of the day
under a pale winter sun
on a breezy summer morning
""")

LIGHT_INDOOR = lines("""
in soft window light
under warm string lights
by candlelight
in warm lamplight
in bright studio light
in rim lighting
with morning light through the curtains
in the glow of a reading lamp
in cool daylight from a skylight
with sunbeams across the floor
under paper lanterns
in the glow of a fireplace
in light filtered through blinds
under a warm pendant lamp
""")

LIGHT_UNDERWATER = lines("""
in clear tropical water
with shafts of sunlight from above
in deep blue light
in shimmering green water
near the bright surface
""")

# for scenes that already say when they happen ("at dawn", "on a snowy morning")
LIGHT_NEUTRAL = lines("""
in soft light
in crisp clear light
with gentle shadows
in natural colors
with soft contrast
in even light
""")

LIGHT_ANY = lines("""
at golden hour
in the late afternoon
in soft natural light
in warm evening light
in bright morning light
in gentle diffused light
in crisp clear light
in honey-colored light
""")

MOODS = lines("""
calm and peaceful mood
warm nostalgic atmosphere
cheerful and bright
dreamy and soft
cozy atmosphere
quiet and contemplative
playful mood
serene and airy
vibrant colors
muted earthy palette
pastel color palette
rich warm tones
cool blue tones
high detail
gentle and tender
whimsical feeling
hopeful mood
lazy sunday feeling
festive atmosphere
fresh and clean
intimate and warm
joyful energy
slow and relaxed
storybook charm
cinematic mood
bright and airy
quiet morning feeling
nostalgic summer vibe
homely and welcoming
minimal and calm
lively and busy
tranquil scene
rustic charm
elegant and refined
sunny optimism
gentle humor
wistful mood
crisp winter feeling
lush and green
soft romantic glow
curious and adventurous
peaceful solitude
soft and sleepy
bold graphic colors
hushed morning calm
honest everyday moment
gentle autumn melancholy
bright summer holiday feeling
sparkling festive cheer
earthy and grounded
dreamlike haze
cool minimal elegance
""")

DETAILS_URBAN = lines("""
a few pigeons pecking at crumbs nearby
laundry fluttering on a line between balconies
a bicycle leaning against a wall
a chalkboard menu propped by a door
soft reflections in the puddles
a tram bell ringing down the street
paper lanterns glowing above the street
bunting strung between lampposts
a row of colorful mailboxes
a street musician playing nearby
a clock tower rising behind the rooftops
flower boxes under every window
a delivery van parked at the curb
shop awnings in faded stripes
a newsstand with colorful magazines
a cafe waiter setting out chairs
a row of scooters parked along the curb
a mural of whales on a side wall
a bakery queue spilling onto the sidewalk
pigeons lifting off from a fountain
a cyclist ringing a bell as she passes
window boxes overflowing with petunias
a cat dozing on a shop step
steam drifting from a street vent
a flower seller arranging buckets of roses
an old man feeding sparrows on a bench
a painted bench beside a lamppost
children chasing bubbles on the sidewalk
a tram gliding past in the background
laundry drying on a rooftop
a row of potted olive trees by a door
string lights zigzagging between buildings
a fruit stand with stacked crates
a bright yellow taxi waiting at the light
""")

DETAILS_NATURE = lines("""
distant hills fading into haze
sailboats bobbing in the distance
a breeze rippling through tall grass
waves rolling gently onto the sand
mist rising from the water
wildflowers growing between the stones
gulls circling above the shore
ripples spreading across a pond
a canoe pulled up on the shore
a line of poplars along the horizon
a sleepy village beyond the hills
deer grazing at the edge of the trees
a wooden fence running down the slope
a stream glinting between the rocks
a hawk circling high overhead
a lone cabin far across the valley
sheep scattered across the hillside
ferns unfurling along the path
a rainbow fading over the far ridge
a trail winding into the distance
a heron standing in the shallows
wild geese flying in a loose v
dragonflies skimming the water
a wooden footbridge over a creek
pine needles carpeting the ground
dew sparkling on spider webs
a fox slipping into the long grass
a red tent pitched by the water
cowbells ringing faintly in the distance
foam lacing the edge of the tide
a patchwork of fields below
lichen spreading across old stones
a family of ducks paddling close to shore
cotton clouds stacked above the peaks
""")

DETAILS_OUTDOOR = lines("""
petals drifting through the air
clouds moving slowly overhead
a small dog trotting past
ivy climbing up old brick walls
a butterfly landing on a flower nearby
a dog napping under a bench
a kite floating high above
a bird singing from a rooftop
smoke rising from a distant chimney
a blanket spread on the grass
a garden gate left open
long shadows stretching across the ground
swallows darting overhead
a bench with a forgotten book
bees humming around a lavender bush
a squirrel darting along a fence
puddles mirroring the sky
a rope swing hanging from a branch
a child pointing at a passing plane
a paper boat drifting in a stream
a picnic basket left in the shade
""")

DETAILS_INDOOR = lines("""
steam curling from a nearby cup
a vintage radio playing softly
a stack of books on a side table
a map pinned to the wall
a cup of tea cooling on the table
shadows of leaves dancing on the wall
a row of houseplants on a shelf
rain tapping on the window
a clock ticking on the wall
a vase of fresh tulips on the sill
a fern trailing from a hanging pot
a globe on a writing desk
a record spinning on a turntable
a coat rack by the door
a chalkboard with the day's notes
""")

# only for homes (kitchens, living rooms, cabins) and food on the table
DETAILS_HOME = lines("""
potted herbs lining the windowsill
a cat watching from the windowsill
a kettle whistling on the stove
a quilt draped over a chair
a basket of yarn on the floor
a loaf of bread cooling on a rack
framed photos along the hallway
a half-finished puzzle on the coffee table
a bowl of clementines on the counter
a sleepy dog curled on a rug
a tabby cat asleep on a cushion
mismatched mugs hanging from hooks
a basket of laundry waiting to be folded
sheet music open on a stand
a pot of soup simmering on the stove
crayons scattered across a table
a row of jars filled with pasta
a guitar leaning against the sofa
a half-read novel face down on an armchair
a bowl of oranges beside a lamp
candles flickering on the mantel
a pile of board games on a shelf
""")


DETAILS_UNDERWATER = lines("""
bubbles rising toward the surface
a school of tiny fish darting past
sea fans swaying in the current
ripples of sand on the sea floor
a turtle gliding in the distance
light dancing on the reef
""")

DETAILS_ANY = lines("""
sunlight catching the dust in the air
warm light spilling from the windows
a wind chime turning slowly
a hand-painted sign reading open
a wooden crate of apples by the door
children's laughter drifting in from somewhere
a sketchbook left open to a half-done drawing
a thermos of coffee waiting to be opened
a red scarf draped over a railing
soft music playing somewhere
a golden retriever waiting patiently
a hand-knitted blanket folded on a chair
a cup of cocoa within reach
a small bouquet of wildflowers
a polaroid camera resting on a ledge
a radio playing an old song
""")

SHORT_SUBJECTS = lines("""
a red fox
a sleepy kitten
an old lighthouse
a bowl of ramen
a vintage bicycle
a snowy owl
a field of tulips
a city skyline
a steaming teacup
a sailboat
a cozy cabin
a hot air balloon
a sunflower
a golden retriever
a mountain lake
cherry blossoms
a rainy street
a stack of pancakes
a wooden rowboat
a desert cactus
paper lanterns
an autumn forest
a sea turtle
a baby elephant
a koi pond
a stone bridge
a windmill
a strawberry cake
a mossy rock
a glass terrarium
a yellow taxi
a bookshop window
a pine forest
a coral reef
a rocky coastline
a lavender field
a street cafe
a farmhouse porch
a green tractor
a hummingbird
a snowman
a candlelit table
a mountain village
a fishing boat
a red barn
a tree house
a penguin
library shelves
a bamboo grove
a beach hut
a ferris wheel
a grand piano
an orange grove
a jellyfish
a starry sky
a rainbow
fresh croissants
a teapot
a waterfall
a frozen lake
""")

SHORT_SETTINGS = lines("""
at dusk
in the snow
in the rain
at sunrise
under the stars
in spring
in autumn
in fog
at night
at noon
by the sea
in summer
in winter
on a hill
in watercolor
as pixel art
in soft light
from above
in the mist
at golden hour
""")

# Fully hand-written captions: the voices the templates cannot produce (plain alt-text, dataset
# captions, terse tags, long scene descriptions, video prompts with camera moves).
HANDWRITTEN = lines("""
a cat asleep on a stack of newspapers
two kids racing paper boats down a rain gutter
an old man feeding swans from a wooden jetty
morning fog over a field of pumpkins
a woman reading under a striped beach umbrella
a row of rubber boots by a farmhouse door
fresh laundry drying on a sunny balcony
a toddler splashing in a kiddie pool
a golden retriever carrying a newspaper up the driveway
a bakery window full of braided breads
close-up of dew drops on a spider web at dawn
a teenager teaching her grandmother to use a tablet
an empty swing moving in the breeze
a little library box on a wooden post
steam rising from a mountain hot spring
a chef laughing in a bright kitchen
a pile of autumn leaves with a rake leaning on a tree
a bowl of lemons on a blue table
a boy building a tower of wooden blocks
a pair of hands kneading bread dough
colorful umbrellas hanging above a shopping street
a lighthouse beam sweeping across a calm sea at night
a quiet train platform covered in snow
a child blowing out birthday candles
a couple dancing in their kitchen
a stack of postcards from different countries
an old stone church on a green hill
a man repairing a fishing net on the beach
a cat watching goldfish in a bowl
a sunny windowsill full of succulents
a yellow kayak on a glassy lake
a girl with a sparkler on a summer night
an overflowing basket of garden tomatoes
a small boat moored under a weeping willow
a snowplow clearing a mountain road at dawn
a grandfather teaching a boy to ride a bike
a field of solar panels under a blue sky
a wind farm on a grassy ridge
a mural of birds on a city wall
a rainy window with blurred city lights behind it
a baker sprinkling seeds on rolls
the inside of a hot air balloon envelope
a fox curled up in the snow
a woman laughing while holding a puppy
a blue door in a white wall with bougainvillea
a plate of cookies and a glass of milk
a hiker standing on a summit above the clouds
a jar of wildflowers on a kitchen table
an astronaut floating inside a space station
the earth seen from orbit at sunrise
a rocket on a launch pad under clear skies
a robot vacuum cleaning a living room
a child in a cardboard box spaceship
an elderly couple sharing an umbrella
a fruit stand with pyramids of oranges
a koala hugging a eucalyptus branch
a surfer walking along the beach at sunset
a sleepy dog on a porch swing
a bicycle with a basket of baguettes
a carousel at a seaside fair
a street musician playing the cello under an arch
a cup of coffee next to an open notebook
a woman painting a mural on a brick wall
a couple of ducks crossing a country road
a frosted window with a handprint
a lantern-lit path through a garden at night
a girl feeding a carrot to a horse
a smiling nurse at a reception desk
a mountain goat on a rocky ledge
a village festival with paper decorations
a woman carrying a basket on a market day
a boy fishing from a dock with his grandfather
a bright red tram in the rain
an old typewriter with a blank page
a row of beach huts painted in pastel colors
a plate of fresh figs and honey
a group of friends laughing around a campfire with marshmallows
a rainy day seen through a cafe window
a lone tree on a hill under the milky way
a swan gliding across a misty pond
a child looking at fish in an aquarium
a woman in a greenhouse repotting orchids
a busy pizza kitchen with a wood fired oven
a small white dog wearing a raincoat
a man playing piano in an empty hall
a hammock between two palm trees
a map with coffee stains and a compass
two cats sitting in a sunny window
a flower crown on a wooden table
a ceramic bowl of noodles with chopsticks
a school of fish swirling in clear water
a snowy cabin with smoke from the chimney
a painted fishing boat on a sandy beach
a cactus in a terracotta pot
a sunrise over a calm ocean
a pair of hiking boots on a mossy rock
a girl reading under a blanket fort
a watermelon sliced on a picnic table
portrait of a smiling grandmother
portrait of a young man with freckles in natural light
a row of colorful houses reflected in a canal
a boy and his dog watching the sunset
a market stall full of spices in bright colors
a tabby cat stretching on a rug
rain falling on a pond with lily pads
the inside of a busy train station at rush hour
a rooftop garden with tomatoes and string lights
a cozy bedroom with a sleeping cat on the quilt
snow
a red umbrella
sunset over the sea
a cup of tea
mountains at dawn
two puppies
a city at night
a field of poppies
a wooden cabin
a bowl of cherries
a green parrot
fresh bread
a quiet beach
an open book
a spring meadow
a sleeping baby
a vintage car
a white horse
a rainy afternoon
a lone sailboat
autumn leaves
a jazz band
a smiling chef
an orange cat
a blue bicycle
cozy living room, warm light
minimalist kitchen, white and wood
aerial view of a winding river
macro photo of a snowflake
close-up of a honeybee on lavender
portrait of a tabby cat, studio light
interior of a tiny cafe, morning light
a red fox in fresh snow, wildlife photo
flat lay of stationery on a desk
isometric room with plants and a desk
a slow pan across a sunlit kitchen where a woman is slicing peaches for a pie, flour on the counter, curtains moving in the breeze, warm nostalgic color grade, 4k video
timelapse of clouds rolling over a mountain range at sunrise, shadows sweeping across the valley, crisp and clear, 8k footage
a drone shot following a red car along a coastal road that hugs the cliffs, waves breaking below, late afternoon sun, cinematic 24fps
slow dolly in on an old clockmaker adjusting a tiny gear under a lamp, dust floating in the light, shallow depth of field, documentary footage
a tracking shot of children running through a field of tall sunflowers, laughing, sun flaring through the petals, home video feel
timelapse of a city intersection from dusk to night, headlights turning into streaks, windows lighting up one by one
a steady gimbal shot walking through a busy night market, steam rising from food stalls, lanterns overhead, people chatting
an aerial flyover of a turquoise lagoon with small boats anchored near a white sand beach, gentle waves, bright midday sun
slow motion footage of a golden retriever leaping into a lake to fetch a ball, water droplets sparkling in the sun
a crane shot rising over a quiet village square on a snowy morning, smoke from chimneys, a bakery opening its shutters
handheld footage of friends sharing a picnic under a cherry tree, petals falling, soft pastel tones, vlog style
a static shot of rain falling on a window with a city blurred behind, a cup of tea steaming on the sill, lo-fi mood
a looping animation of a cat sleeping on a windowsill while snow falls outside, cozy pixel art
a pull back revealing a tiny cabin in a vast snowy valley under a pink sky, smoke curling from the chimney
slow motion footage of milk being poured into a cup of coffee, swirling patterns, macro lens, studio light
a first person view cycling through a tulip field on a narrow path, windmills in the distance, spring morning
an orbiting shot around a sculptor shaping a clay bust in a bright studio, shavings falling, calm music video look
timelapse of a flower bud opening into a pink peony against a black background
a slow zoom out from a bowl of ramen to reveal a cozy noodle bar with steamed up windows and a chef at work
a low tracking shot alongside a flock of geese walking across a frosty meadow at dawn
a tracking shot of a tram moving through a narrow old street, passengers looking out, autumn leaves blowing
a gentle tilt up from a mossy forest floor to sunlight streaming through tall redwoods, birdsong, nature documentary footage
a hyperlapse through a modern city at night, passing glass towers, bridges and neon billboards, smooth motion
handheld footage of a grandmother teaching her granddaughter to make dumplings at a floury kitchen table, laughter, warm light
a drone shot following a sailboat across a deep blue bay, white wake behind it, islands in the distance
a push in toward a street musician playing violin under a stone archway while passersby drop coins in his case
slow pan across a library reading room with green lamps, students studying quietly, dust in the sunbeams
timelapse of stars wheeling over a desert campsite with a glowing tent in the foreground
a wide establishing shot of a lighthouse on a cliff as a storm rolls in over the sea, dramatic clouds, gulls in the wind
an aerial flyover of autumn forests in red and gold around a mirror-like lake, morning mist lifting
a cozy stop motion animation of a knitted bear baking a cake in a tiny felt kitchen
a rack focus from raindrops on a leaf to a child in a yellow raincoat jumping in puddles behind
a tracking shot of a horse and rider cantering along the shoreline at sunrise, spray kicking up from the waves
a steady gimbal shot through a greenhouse full of tropical plants, water droplets on leaves, warm humid light
a slow dolly in on a jazz trio playing in a dim club, saxophone glinting, audience nodding along
an early morning scene at a fishing harbor, where weathered boats rock gently beside the pier, gulls drift over stacked crates, and a fisherman in a yellow jacket coils rope while the sky turns from lavender to gold behind the hills
a cozy attic bedroom on a rainy afternoon, with a patchwork quilt on the bed, a stack of old novels on the floor, a sleeping grey cat, and rain streaming down the round window as a lamp glows warmly in the corner
a sprawling farmers market on a Saturday morning, with wooden stalls piled high with heirloom tomatoes, bunches of carrots and bright flowers, shoppers carrying woven baskets, and a fiddler playing beside a striped awning
a wide view of a mountain valley in early summer, with a turquoise river winding between meadows of wildflowers, a red wooden farmhouse at the edge of a pine forest, and snowy peaks catching the first light of dawn
a small neighborhood bakery just before opening, with trays of golden croissants cooling on racks, a baker in a flour-dusted apron writing prices on a chalkboard, and the street outside still blue in the early light
a children's book illustration of a family of hedgehogs having a picnic under a giant mushroom, with tiny teacups, a checkered cloth, acorn bowls full of berries, and fireflies beginning to glow in the evening grass
a bright modern classroom where students in colorful sweaters build a cardboard city together, with tape, markers and paper trees spread across the tables while their teacher kneels to help glue a bridge in place
a narrow canal in an old european city at twilight, with boats tied beside stone steps, flower boxes under every window, warm lights reflecting on the water, and a couple strolling slowly across an arched bridge
a cozy mountain cabin interior in winter, with a crackling wood stove, wool blankets draped over a sofa, mugs of cocoa on a low table, skis leaning by the door, and snow piling up against the frosted window panes
a busy train station concourse on a sunny morning, with light pouring through a vaulted glass roof, travelers pulling suitcases, a man reading the departure board, and a pigeon walking calmly across the polished floor
a watercolor painting of a seaside village on a breezy day, with pastel houses stacked up a hillside, laundry flapping on lines, fishing boats pulled onto the pebbles, and white clouds racing over a blue sea
a serene japanese garden in autumn, with a red wooden bridge over a koi pond, maple leaves floating on the water, raked gravel paths, moss-covered lanterns and a small teahouse half hidden behind the trees
an overhead shot of a long wooden table set for a summer dinner party in a garden, with mismatched plates, bowls of salad and bread, jars of wildflowers, candles in glass holders and friends reaching across to pass dishes
a slow tracking shot along a beach boardwalk at sunset, passing ice cream kiosks, families on benches, a boy chasing seagulls and a couple of roller skaters gliding by, the sea glowing orange under a fading sky, cinematic 4k
a detailed isometric illustration of a tiny apartment cut open to show every room, with a cat on the bookshelf, plants hanging in the kitchen, a desk with a glowing laptop, and a bathtub full of bubbles
a documentary photo of a village school in the hills at recess, children in blue uniforms playing hopscotch and skipping rope in a dusty yard, teachers watching from the veranda, mountains fading into the haze behind
a dreamy digital painting of a floating island with waterfalls pouring off its edges, a cottage with a red roof, a garden of giant flowers and a hot air balloon drifting past in a pink and gold sunset sky
a quiet public library on a weekday afternoon, with tall arched windows, rows of oak shelves, an old man reading a newspaper by the radiator, a student asleep on her textbooks and sunlight laying stripes across the floor
a cinematic drone shot rising slowly above a patchwork of tulip fields in red, yellow and purple stripes, a windmill turning at the edge of a canal, cyclists moving along a narrow road between the flowers
a cheerful street scene in a tropical town after a rain shower, with puddles reflecting colorful shop signs, a fruit seller arranging mangoes, scooters parked along the curb and palm trees dripping in the warm sunlight
a still life of a breakfast table by a sunny window, with a french press of coffee, a half-eaten croissant on a blue plate, a jar of apricot jam, an open newspaper and a vase of yellow tulips leaning toward the light
a tracking shot following a mail carrier on a bicycle through a quiet village lane lined with stone cottages and climbing roses, she waves at a neighbor trimming a hedge, birds singing, late spring morning, 4k video
a sweeping aerial view of a coral reef atoll, rings of turquoise and deep blue water around a white sand island with a few palm trees, a small boat leaving a thin white wake across the lagoon
a festive night scene of a winter market in a town square, wooden stalls hung with lights, people in scarves sipping hot cider from paper cups, a carousel turning slowly, and snow falling softly over everything
a close-up of an artisan's hands shaping a clay bowl on a potter's wheel, wet clay glistening, fingers leaving spiral marks, a row of finished bowls drying on a shelf in the soft light of the studio behind
a panoramic photo of a desert at dawn, with orange dunes rolling to the horizon, long blue shadows, a camel caravan walking in single file along a ridge and a thin crescent moon still visible in the pale sky
a lively kitchen in a family restaurant during lunch rush, cooks moving between steaming pots and sizzling pans, a waiter grabbing plates from the pass, herbs hanging from a rack and sunlight coming through a small window
a soft pastel anime background of a quiet suburban street in summer, with telephone wires crossing a bright sky, cicadas implied by heat haze, a vending machine glowing beside a bicycle and tall white clouds on the horizon
a nature documentary shot of a mother bear and two cubs walking along a riverbank in alaska, salmon jumping in the rapids, pine forest behind them and mist lifting from the water in the cool morning light
a slow motion shot of a ballet dancer leaping across a sunlit rehearsal studio, dust glowing in beams of light through tall windows, her skirt flaring, wooden floor gleaming, other dancers stretching at the barre in the background
a birthday party in a backyard on a warm afternoon, with balloons tied to a fence, children in paper hats around a table with a frosted cake, a dog waiting hopefully for crumbs, and parents laughing in the shade
a tidy woodworking shop at the end of the day, with hand tools hanging on a pegboard, curls of pine shavings on the floor, a half-built rocking chair clamped on the bench and golden light slanting through a dusty window
a rainy evening in a big city seen from inside a warm noodle shop, steam fogging the window, a couple sharing a bowl at the counter, umbrellas bobbing past outside and neon signs blurred into soft colored streaks
a hand-drawn map of an imaginary island, with mountains, forests, a harbor town, winding roads, a compass rose in the corner, tiny illustrated ships and sea creatures in the margins, aged paper texture
a serene lakeside dock at dawn, with a wooden rowboat tied to a post, mist drifting over the glassy water, pine trees on the far shore, a pair of loons floating quietly and a thermos of coffee waiting on the planks
a medium shot of a smiling elderly couple working together in their vegetable garden, she holds a basket of green beans while he kneels by the tomato plants, a scarecrow and sunflowers behind them, summer afternoon
a whimsical claymation scene of a tiny town built on the back of a giant friendly turtle swimming through a sea of clouds, with little houses, a clock tower, laundry lines and birds flying around its shell
a bustling harbor in the afternoon where a ferry unloads passengers and bicycles, seagulls wheel above the cranes, a fish market opens its awnings and children eat ice cream on the sea wall watching the boats
an interior design photo of a bright living room with white walls, a linen sofa, a big fiddle leaf fig, a woven rug, shelves of ceramics and art books, and a large window looking out over green treetops
a quiet moment in a hospital garden, a nurse on her break sitting on a bench with a sandwich, roses climbing a trellis behind her, pigeons nearby, soft afternoon light and the building's windows reflecting the sky
a stop motion video of paper cut-out birds flying over a paper city at dawn, buildings unfolding one by one, a paper sun rising slowly and tiny paper people opening their windows to wave
a bird's eye view of a colorful farmers field mosaic in early autumn, plots of golden wheat, green cabbages, brown plowed earth and purple lavender separated by hedgerows, a red tractor moving along one edge
a warm portrait of a fisherman mending nets on a dock, wrinkles deep around his smiling eyes, a wool cap pulled low, coils of rope and blue crates around him, harbor water shimmering softly in the background
a rainy afternoon in a cozy bookshop, a tabby cat asleep on a pile of atlases, a woman browsing poetry with a paper cup of tea, rain tapping on the shop window and a bell above the door ringing softly
a pair of socks drying on a radiator
a woman laughing as her dog shakes water everywhere
a tiny bakery van parked by a field of daisies
a man reading a map upside down on a street corner
an old couple playing dominoes in a park
a row of sleeping cats on a warm wall
a chalk drawing of a sun on a sidewalk
a handwritten note on a fridge held by a magnet
a little boy hugging a giant teddy bear
a bowl of soup with steam rising into winter light
a woman carrying a christmas tree home on her shoulder
a dog looking out of a car window with ears flying
a child's drawing of a house taped to a window
a pair of swans with cygnets on a river
a colorful bus full of smiling passengers
a kitchen table covered in flour and cookie cutters
a gardener holding up a giant zucchini
a stack of pancakes with a candle for a birthday
a person reading on a train with mountains outside
a quiet harbor with a single rowboat at dawn
a cat sitting inside a flower pot
a girl in a tutu jumping in a puddle
a woman watering geraniums on a tiny balcony
a grandfather asleep in an armchair with a newspaper
a little dog in a tiny knitted sweater
a boy on his father's shoulders at a parade
a garden shed covered in climbing roses
a tray of seedlings on a windowsill
two hands holding a steaming cup of cocoa
a colorful hot air balloon festival at dawn
a crowded beach seen from above with umbrellas like confetti
a woman practicing tai chi in a misty park
a row of fishing boats pulled up on the sand
a barista drawing a heart in foam
a cyclist stopping to photograph a field of poppies
a library cat asleep on the returns desk
fresh snow on a red postbox
an owl peeking out of a tree hollow
a squirrel holding an acorn with both paws
a child feeding ducks with her grandmother
a young man playing guitar on a front stoop
a woman painting her front door bright blue
a heron standing still in the reeds
a stack of firewood under a snowy roof
close-up of a cat's whiskers in sunlight
a smiling woman holding a loaf of fresh bread
a dog sleeping on a pile of coats
a crowd dancing at an outdoor summer concert
a toddler taking her first steps in the grass
a rainy street reflected in a shop window
a bright kitchen with lemons in a bowl
a group of friends cooking together in a small kitchen
a woman reading in a bathtub with a cup of tea
a farmer holding a basket of eggs
a handmade wooden toy train on a rug
a fox cub peeking out of a den
a mother duck leading ducklings across a path
a tiny house with a garden on a hill
timelapse of a sunflower turning toward the sun
slow motion of a dandelion seed head blowing apart in the wind
a drone shot over a forest road in autumn with a single car
a slow pan across a shelf of colorful yarn in a craft shop
a tracking shot of a dog running along a beach at sunrise
handheld footage of a street parade with drums and colorful costumes
timelapse of bread rising in a glass bowl
a static shot of a kettle coming to a boil on a gas stove
slow dolly in on a snow globe being shaken on a windowsill
a drone shot circling a lighthouse on a rocky island at sunset
a slow pan across a sleepy harbor town at dawn as the lights go out
timelapse of a busy kitchen during dinner service
a first person view of rowing across a misty lake at sunrise
a slow motion shot of a horse shaking its mane in the sun
timelapse of a paper city being built from folded shapes
a tracking shot of a child riding a bicycle with training wheels on a quiet street
slow motion of raindrops falling into a puddle
a drone shot following a river through a canyon
a whip pan from a barista to a customer smiling at the counter
an overhead timelapse of people crossing a big city intersection in the rain
slow motion footage of flour being sifted onto a wooden table
a gentle pan across a sleeping puppy breathing softly on a blanket
""")


# ---------------------------------------------------------------------------------------------
# composition


class Deck:
    """Deals items of a list in shuffled order, reshuffling only once every item has been used."""

    def __init__(self, items: Sequence, rng: random.Random) -> None:
        if not items:
            raise ValueError("a deck needs at least one item")
        self._items = list(items)
        self._rng = rng
        self._order: list = []

    def draw(self):
        if not self._order:
            self._order = self._items[:]
            self._rng.shuffle(self._order)
        return self._order.pop()


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def word_count(text: str) -> int:
    return len(text.split())


def without_article(text: str) -> str:
    """'an old lighthouse' -> 'old lighthouse' (terse tag style)."""
    return re.sub(r"^(a|an) ", "", text)


# Words that place a scene indoors or in nature, so light and details can match it ("under a starry
# sky" does not belong in a laundromat, nor "a tram bell ringing" on a glacier).
INDOOR_WORDS = frozenset(["kitchen", "shop", "store", "studio", "room", "library", "office", "classroom", "ward", "clinic", "lab", "laboratory", "bakery", "cafe", "bar", "workshop", "garage", "salon", "barbershop", "cabin", "counter", "bindery", "theater", "cellar", "forge", "smithy", "dome", "newsroom", "tower", "dairy", "playroom", "greenhouse", "laundromat", "apartment", "lobby", "terminal", "car", "hallway", "sunroom", "bookshop", "museum", "gallery", "tram", "coworking", "house", "treehouse", "hut", "hall", "gym", "class", "stairwell", "bus", "chapel", "pool", "arena"])
NATURE_WORDS = frozenset(["trail", "beach", "field", "forest", "lake", "waterfall", "hill", "hills", "hillside", "meadow", "orchard", "vineyard", "campsite", "pond", "sea", "river", "valley", "mountain", "mountains", "summit", "grove", "dunes", "cliff", "shore", "shoreline", "coast", "island", "savanna", "reef", "pasture", "farm", "fields", "bay", "harbor", "pier", "dock", "jetty", "lagoon", "desert", "oasis", "moor", "rapids", "snow", "hives", "plantation"])

INDOOR, HOME, URBAN, NATURE, OUTDOOR, EITHER, UNDERWATER = (
    "indoor", "home", "urban", "nature", "outdoor", "either", "underwater")
HOME_WORDS = frozenset(["kitchen", "living", "bedroom", "cabin", "attic", "apartment", "nook", "sunroom", "nursery", "dining", "bathroom", "bed", "home"])
OUTSIDE = (URBAN, NATURE, OUTDOOR)
TIME_WORDS = frozenset(["night", "dawn", "sunrise", "sunset", "dusk", "morning", "evening", "midday", "noon", "afternoon", "winter", "summer", "autumn", "spring", "snow", "snowy", "frosty", "twilight"])


@dataclass(frozen=True)
class Scene:
    """A subject doing something somewhere, with where it is and whether it is wide enough for
    aerial or crane camera moves."""

    text: str
    setting: str
    wide: bool = False
    genre: str = "photo"  # what a photo of this scene is called ("wildlife photo", "pet portrait")


def setting_of(place: str) -> str:
    words = set(normalize(place).split())
    if words & HOME_WORDS:
        return HOME
    if words & INDOOR_WORDS:
        return INDOOR
    return NATURE if words & NATURE_WORDS else URBAN


class Composer:
    """Builds candidate anchors family by family; every family draws its parts from decks.

    Light and detail phrases are drawn from pools that fit the scene's setting, and aerial or crane
    moves only frame wide outdoor scenes, so composed captions stay physically plausible.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        deck = lambda items: Deck(items, self.rng)
        self.people = deck(PEOPLE)
        self.person_actions = {INDOOR: deck(PERSON_ACTIONS + PERSON_ACTIONS_INDOOR),
                               OUTDOOR: deck(PERSON_ACTIONS + PERSON_ACTIONS_OUTDOOR)}
        self.person_places = deck(PERSON_PLACES)
        self.professions = deck([self._parse_profession(row) for row in PROFESSIONS])
        self.animal_groups = {name: (deck(animals), deck(actions))
                              for name, (animals, actions) in ANIMAL_GROUPS.items()}
        self.animal_group_names = deck([name for name in ANIMAL_GROUPS for _ in ANIMAL_GROUPS[name][0]])
        self.vehicle_groups = {name: (deck(kinds), deck(actions)) for name, (kinds, actions) in VEHICLE_GROUPS.items()}
        self.vehicle_group_names = deck([name for name in VEHICLE_GROUPS for _ in VEHICLE_GROUPS[name][0]])
        self.foods, self.food_shots, self.surfaces = deck(FOODS), deck(FOOD_SHOTS), deck(SURFACES)
        self.landscapes, self.cityscapes, self.interiors = deck(LANDSCAPES), deck(CITYSCAPES), deck(INTERIORS)
        self.objects, self.product_shots, self.backdrops = deck(OBJECTS), deck(PRODUCT_SHOTS), deck(PRODUCT_BACKDROPS)
        self.sports = deck(SPORTS)
        self.styles, self.camera = deck(STYLES), deck(CAMERA)
        self.motions_close, self.motions_wide = deck(MOTIONS_CLOSE), deck(MOTIONS_WIDE)
        self.video_formats, self.moods = deck(VIDEO_FORMATS), deck(MOODS)
        outdoor_light = LIGHT_OUTDOOR + LIGHT_ANY
        indoor_light = LIGHT_INDOOR + LIGHT_ANY
        self.lights = {INDOOR: deck(indoor_light), HOME: deck(indoor_light), URBAN: deck(outdoor_light),
                       NATURE: deck(outdoor_light), OUTDOOR: deck(outdoor_light), EITHER: deck(LIGHT_ANY),
                       UNDERWATER: deck(LIGHT_UNDERWATER)}
        self.detail_pools = {
            INDOOR: deck(DETAILS_INDOOR + DETAILS_ANY),
            HOME: deck(DETAILS_INDOOR + DETAILS_HOME + DETAILS_ANY),
            URBAN: deck(DETAILS_URBAN + DETAILS_OUTDOOR + DETAILS_ANY),
            NATURE: deck(DETAILS_NATURE + DETAILS_OUTDOOR),
            OUTDOOR: deck(DETAILS_OUTDOOR + DETAILS_ANY),
            EITHER: deck(DETAILS_ANY),
            UNDERWATER: deck(DETAILS_UNDERWATER),
        }
        self.neutral_light = deck(LIGHT_NEUTRAL)
        self.short_subjects, self.short_settings = deck(SHORT_SUBJECTS), deck(SHORT_SETTINGS)

    @staticmethod
    def _parse_profession(row: str) -> tuple[str, list[str], list[str]]:
        subject, actions, places = (part.strip() for part in row.split("|"))
        return subject, [a.strip() for a in actions.split(";")], [p.strip() for p in places.split(";")]

    def pick(self, options: Sequence):
        return options[self.rng.randrange(len(options))]

    def light(self, setting: str, text: str = "") -> str:
        """A light phrase for the setting; a time-neutral one when `text` already says when."""
        if set(normalize(text).split()) & TIME_WORDS:
            return self.neutral_light.draw()
        return self.lights[setting].draw()

    def details(self, setting: str, count: int) -> list[str]:
        """`count` different detail phrases that fit the setting."""
        chosen: list[str] = []
        while len(chosen) < count:
            detail = self.detail_pools[setting].draw()
            if detail not in chosen:
                chosen.append(detail)
        return chosen

    def motion(self, scene: Scene) -> str:
        if scene.wide and self.rng.random() < 0.45:
            return self.motions_wide.draw()
        return self.motions_close.draw()

    # scenes -----------------------------------------------------------------------------------
    def person_scene(self) -> Scene:
        place = self.person_places.draw()
        setting = setting_of(place)
        action = self.person_actions[INDOOR if setting in (INDOOR, HOME) else OUTDOOR].draw()
        return Scene(f"{self.people.draw()} {action} {place}", setting, setting in OUTSIDE)

    def profession_scene(self) -> Scene:
        subject, actions, places = self.professions.draw()
        place = self.pick(places)
        setting = setting_of(place)
        return Scene(f"{subject} {self.pick(actions)} {place}", setting, setting in OUTSIDE)

    def animal_scene(self) -> Scene:
        group = self.animal_group_names.draw()
        animals, actions = self.animal_groups[group]
        text = f"{animals.draw()} {actions.draw()}"
        if group == "pets":
            return Scene(text, EITHER, genre="pet portrait")
        if group == "sea":
            return Scene(text, UNDERWATER, genre="underwater photo")
        if group == "small":
            return Scene(text, NATURE, genre="macro photo")
        return Scene(text, NATURE, wide=True, genre="farm photo" if group == "farm" else "wildlife photo")

    def place_scene(self) -> Scene:
        source = self.pick(["landscape", "landscape", "city", "interior"])
        if source == "interior":
            interior = self.interiors.draw()
            return Scene(interior, setting_of(interior))
        if source == "city":
            return Scene(self.cityscapes.draw(), URBAN, wide=True)
        return Scene(self.landscapes.draw(), NATURE, wide=True)

    def vehicle_scene(self) -> Scene:
        kinds, actions = self.vehicle_groups[self.vehicle_group_names.draw()]
        return Scene(f"{kinds.draw()} {actions.draw()}", OUTDOOR, wide=True)

    def sport_scene(self) -> Scene:
        return Scene(self.sports.draw(), EITHER)

    def food_scene(self) -> Scene:
        return Scene(f"{self.foods.draw()} {self.surfaces.draw()}", HOME)

    def any_scene(self) -> Scene:
        maker = self.pick([self.person_scene, self.profession_scene, self.animal_scene, self.place_scene,
                           self.vehicle_scene, self.sport_scene, self.food_scene])
        return maker()

    # families --------------------------------------------------------------------------------
    def short(self) -> str:
        form = self.rng.randrange(3)
        if form == 0:
            return f"{without_article(self.short_subjects.draw())} {self.short_settings.draw()}"
        if form == 1:
            return f"{self.short_subjects.draw()} {self.short_settings.draw()}"
        return f"{self.styles.draw()} of {self.short_subjects.draw()}"

    def person(self) -> str:
        scene = self.person_scene()
        form = self.rng.randrange(4)
        if form == 0:
            return scene.text
        if form == 1:
            return f"{self.styles.draw()} of {scene.text}, {self.light(scene.setting, scene.text)}"
        if form == 2:
            return f"{scene.text}, {self.camera.draw()}, {self.light(scene.setting, scene.text)}"
        return f"{scene.text}, {self.styles.draw()}"

    def profession(self) -> str:
        scene = self.profession_scene()
        form = self.rng.randrange(4)
        if form == 0:
            return scene.text
        if form == 1:
            return f"{self.styles.draw()} of {scene.text}"
        if form == 2:
            return f"{scene.text}, {self.camera.draw()}, {self.moods.draw()}"
        return f"portrait of {scene.text}, {self.light(scene.setting, scene.text)}"

    def animal(self) -> str:
        scene = self.animal_scene()
        form = self.rng.randrange(4)
        if form == 0:
            return scene.text
        if form == 1:
            return f"{self.styles.draw()} of {scene.text}"
        if form == 2:
            return f"{scene.genre} of {scene.text}, {self.camera.draw()}, {self.light(scene.setting, scene.text)}"
        return f"{scene.text} {self.light(scene.setting, scene.text)}, {self.moods.draw()}"

    def food(self) -> str:
        form = self.rng.randrange(3)
        if form == 0:
            scene = self.food_scene()
            return f"{self.food_shots.draw()} {scene.text}, {self.light(scene.setting, scene.text)}"
        if form == 1:
            return self.food_scene().text
        return f"{self.foods.draw()}, {self.styles.draw()}, {self.moods.draw()}"

    def place(self) -> str:
        scene = self.place_scene()
        form = self.rng.randrange(4)
        if form == 0:
            return f"{self.styles.draw()} of {scene.text} {self.light(scene.setting, scene.text)}"
        if form == 1:
            return f"{scene.text} {self.light(scene.setting, scene.text)}, {self.camera.draw()}"
        if form == 2:
            return f"{scene.text}, {self.moods.draw()}"
        return f"{scene.text}, {self.details(scene.setting, 1)[0]}, {self.styles.draw()}"

    def product(self) -> str:
        form = self.rng.randrange(3)
        if form == 0:
            return f"{self.product_shots.draw()} {self.objects.draw()} {self.backdrops.draw()}"
        if form == 1:
            return f"{self.product_shots.draw()} {self.objects.draw()}, {self.light(INDOOR)}, {self.camera.draw()}"
        return f"{self.objects.draw()}, {self.styles.draw()}"

    def vehicle(self) -> str:
        scene = self.vehicle_scene()
        form = self.rng.randrange(3)
        if form == 0:
            return f"{scene.text}, {self.camera.draw()}"
        if form == 1:
            return f"{self.styles.draw()} of {scene.text} {self.light(scene.setting, scene.text)}"
        return f"{scene.text} {self.light(scene.setting, scene.text)}"

    def sport(self) -> str:
        scene = self.sport_scene()
        form = self.rng.randrange(3)
        if form == 0:
            return f"{scene.text}, {self.camera.draw()}"
        if form == 1:
            return f"sports photo of {scene.text}, {self.light(scene.setting, scene.text)}"
        return f"{self.styles.draw()} of {scene.text}"

    def video(self) -> str:
        scene = self.any_scene()
        motion = self.motion(scene)
        form = self.rng.randrange(3)
        if form == 0:
            return f"{motion} {scene.text}, {self.video_formats.draw()}"
        if form == 1:
            light, detail = self.light(scene.setting, scene.text), self.details(scene.setting, 1)[0]
            return f"{motion} {scene.text} {light}, {detail}, {self.video_formats.draw()}"
        return f"{motion} {scene.text}, {self.moods.draw()}"

    def long(self) -> str:
        """A 30-60 word description: one scene, three details, light, camera and mood."""
        scene = self.any_scene()
        first, second, third = self.details(scene.setting, 3)
        light = self.light(scene.setting, scene.text)
        form = self.rng.randrange(3)
        if form == 0:
            return (f"{self.styles.draw()} of {scene.text}, {first}, {second} and {third}, "
                    f"{light}, {self.camera.draw()}, {self.moods.draw()}")
        if form == 1:
            return (f"{self.motion(scene)} {scene.text}. {sentence_case(first)}, {second}, and {third}. "
                    f"{sentence_case(light)}, {self.camera.draw()}, {self.video_formats.draw()}, {self.moods.draw()}")
        return (f"{sentence_case(scene.text)} {light}. In the background, {first}; nearby, {second}, and {third}. "
                f"{sentence_case(self.styles.draw())}, {self.camera.draw()}, {self.moods.draw()}")


# share of each composed family in the candidate pool (hand-written captions are always all kept)
FAMILY_QUOTAS: dict[str, int] = {
    "short": 380, "person": 420, "profession": 380, "animal": 330, "food": 240, "place": 330,
    "product": 200, "vehicle": 130, "sport": 150, "video": 380, "long": 260,
}
LONG_WORDS = (30, 60)


# ---------------------------------------------------------------------------------------------
# filtering and statistics


def normalize(text: str) -> str:
    """Lowercase, punctuation stripped, whitespace collapsed (the duplicate key used by crosssteer)."""
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def banned_words_in(text: str) -> list[str]:
    return [w for w in normalize(text).split() if w in BANNED_WORDS]


class NearDuplicateFilter:
    """Greedy near-duplicate removal by word-set Jaccard, with prefix filtering.

    Tokens are ordered rarest-first by their frequency over all candidates; two sets with Jaccard
    >= t must share a token among the first |x| - ceil(t|x|) + 1 of each, so only sets meeting in
    an inverted index over those prefixes are compared.
    """

    def __init__(self, candidates: Sequence[str], threshold: float) -> None:
        self.threshold = threshold
        self.frequency = Counter(tok for text in candidates for tok in set(normalize(text).split()))
        self.index: dict[str, list[int]] = defaultdict(list)
        self.kept: list[frozenset] = []

    def _prefix(self, words: frozenset) -> list[str]:
        tokens = sorted(words, key=lambda tok: (self.frequency[tok], tok))
        return tokens[: len(tokens) - math.ceil(self.threshold * len(tokens) - 1e-9) + 1]

    def admit(self, text: str) -> bool:
        """Keep `text` unless it is a near duplicate of one already kept."""
        words = frozenset(normalize(text).split())
        if not words:
            return False
        prefix = self._prefix(words)
        seen: set[int] = set()
        for token in prefix:
            for other in self.index[token]:
                if other in seen:
                    continue
                seen.add(other)
                kept = self.kept[other]
                if len(words & kept) / len(words | kept) >= self.threshold:
                    return False
        position = len(self.kept)
        self.kept.append(words)
        for token in prefix:
            self.index[token].append(position)
        return True


def distinct_n(texts: Sequence[str]) -> tuple[float, float]:
    """Unique unigrams / all unigrams and unique bigrams / all bigrams over the corpus."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for text in texts:
        words = normalize(text).split()
        unigrams.update(words)
        bigrams.update(itertools.pairwise(words))
    return len(unigrams) / sum(unigrams.values()), len(bigrams) / sum(bigrams.values())


# ---------------------------------------------------------------------------------------------
# main


def compose(seed: int) -> tuple[list[str], dict[str, int]]:
    """All candidates, hand-written first, then composed families interleaved; plus drop counts."""
    composer = Composer(seed)
    makers: dict[str, Callable[[], str]] = {name: getattr(composer, name) for name in FAMILY_QUOTAS}
    composed: list[tuple[str, str]] = []
    skipped = Counter()
    for family, quota in FAMILY_QUOTAS.items():
        made = 0
        for _ in range(quota * 3):  # bounded retries for long texts outside the word range
            if made == quota:
                break
            text = " ".join(makers[family]().split())
            if family == "long" and not LONG_WORDS[0] <= word_count(text) <= LONG_WORDS[1]:
                skipped["long text outside 30-60 words"] += 1
                continue
            composed.append((family, text))
            made += 1
    composer.rng.shuffle(composed)
    return HANDWRITTEN + [text for _, text in composed], dict(skipped)


def build(seed: int) -> tuple[list[str], Counter]:
    candidates, skipped = compose(seed)
    dropped = Counter(skipped)
    near = NearDuplicateFilter(candidates, NEAR_DUPLICATE_JACCARD)
    seen_keys: set[str] = set()
    kept: list[str] = []
    for text in candidates:
        bad = banned_words_in(text)
        if bad:
            raise SystemExit(f"make_anchors: banned word(s) {bad} in anchor {text!r}: fix the hand-written lists")
        key = normalize(text)
        if key in seen_keys:
            dropped["exact duplicate"] += 1
            continue
        if not near.admit(text):
            dropped["near duplicate"] += 1
            continue
        seen_keys.add(key)
        kept.append(text)
    return kept, dropped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output .jsonl (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)

    anchors, dropped = build(args.seed)
    if len(anchors) < MIN_ANCHORS:
        raise SystemExit(f"make_anchors: only {len(anchors)} anchors survived (need {MIN_ANCHORS}): "
                         f"add hand-written parts or raise FAMILY_QUOTAS")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in anchors)

    lengths = sorted(word_count(t) for t in anchors)
    d1, d2 = distinct_n(anchors)
    print(f"wrote {len(anchors)} anchors to {args.out}")
    print(f"  hand-written captions: {len(HANDWRITTEN)}; dropped: {dict(dropped) or 'none'}")
    print(f"  words per anchor: min {lengths[0]}, median {lengths[len(lengths) // 2]}, max {lengths[-1]}; "
          f"3-6 words: {sum(3 <= n <= 6 for n in lengths)}, 30-60 words: {sum(30 <= n <= 60 for n in lengths)}")
    print(f"  unique texts (normalised): {len({normalize(t) for t in anchors})}")
    print(f"  distinct-1: {d1:.4f}  distinct-2: {d2:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
