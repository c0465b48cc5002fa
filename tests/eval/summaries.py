"""Summaries written independently of the suite's references, for calibrating
the ``rouge`` threshold: each must pass its own task and fail every other."""

INDEPENDENT = {
    "sum-polders": "Since the 1400s the Dutch have reclaimed marshes as polders by building dikes and pumping out water with windmills, "
                   "sharing the cost through water boards that survive today.",
    "sum-library": "Riverside Public Library will open until 10 p.m. on weekdays from March, paid for from the events budget, "
                   "and the longer hours will be reviewed after six months.",
    "sum-octopus": "Octopuses are clever invertebrates that can open jars and recognise people, and most of their neurons sit in their "
                   "arms, which can act on their own.",
    "sum-earnings": "Halvorsen Tools grew third-quarter sales 12 percent to 84 million euros thanks to cordless drills, "
                    "but higher steel prices and a new factory near Gdansk cut profit slightly.",
    "sum-sourdough": "Sourdough starter is flour and water fermented by wild yeast and bacteria that make bread rise and sour; "
                     "bakers feed it daily and it can be kept in the fridge.",
    "sum-bridge": "Millbrook's stone bridge over the River Wend closes from June to October for repairs to cracked arches, "
                  "with drivers detouring through Ashby.",
    "sum-vents": "Hydrothermal vents on the sea floor emit very hot, mineral-rich water and support tube worms, shrimp and clams "
                 "through bacteria that live on chemicals rather than sunlight.",
    "sum-hybrid-work": "Employees who worked from home two days a week were as productive as office workers, were less likely to "
                       "quit and were promoted just as often.",
    "sum-bicycle": "The passage traces the bicycle from the pedal-less machines of 1817 and the dangerous penny-farthing to the "
                   "safety bicycle with a chain, the design used today.",
    "sum-coral": "When the sea stays too warm, corals expel the algae that feed them and bleach, and as oceans warm this happens "
                 "so often that reefs cannot recover.",
    "multi-glacier-keywords": "Glaciers are compressed snow that flows downhill, and as warmer summers shrink them, their melt raises "
                              "sea levels and threatens water for millions.",
    "multi-summary-person": "Arthur Penrose, Little Hadley's postman for thirty years, has retired and was thanked by the village.",
    "multi-summary-topic": "Astronomers have found a hot Neptune-sized planet 40 light years away whose atmosphere may contain "
                           "water vapour.",
    "multi-review-three": "The Thai restaurant on Elm Street has great green curry and friendly staff, but the noodles were greasy, "
                          "the room loud and the bill high.",
}
