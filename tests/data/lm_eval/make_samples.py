"""Regenerate the lm-eval samples files here (python tests/data/lm_eval/make_samples.py).

Three "models" answer 32 general-knowledge questions (task mini_qa, 4 choices)
and 12 science questions (task mini_sci, 2 to 5 choices); log-likelihoods are
drawn so that stronger models prefer the right answer more often. Questions
3, 11 and 25 of mini_qa carry a wrong key (the right answer is every model's
clear favourite), as a benchmark with label errors would. Files are written by
tests/helpers/lm_eval_writer.py exactly as lm-eval v0.4.11 writes them, one
folder per model as lm-eval names it.
"""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "helpers"))
from lm_eval_writer import make_samples, write_samples  # noqa: E402

QA = [
    ("What is the capital of France?", ["Berlin", "Madrid", "Paris", "Rome"], 2),
    ("How many legs does a spider have?", ["Six", "Eight", "Ten", "Four"], 1),
    ("Which planet is known as the Red Planet?", ["Venus", "Jupiter", "Mars", "Saturn"], 2),
    ("What is the boiling point of water at sea level in Celsius?", ["90", "100", "110", "120"], 1),
    ("Who wrote 'Romeo and Juliet'?", ["Charles Dickens", "William Shakespeare", "Jane Austen", "Mark Twain"], 1),
    ("What is the largest ocean on Earth?", ["Atlantic", "Indian", "Arctic", "Pacific"], 3),
    ("What gas do plants absorb from the air?", ["Oxygen", "Nitrogen", "Carbon dioxide", "Helium"], 2),
    ("How many continents are there?", ["Five", "Six", "Seven", "Eight"], 2),
    ("What is the chemical symbol for gold?", ["Au", "Ag", "Gd", "Go"], 0),
    ("Which animal is the largest mammal?", ["Elephant", "Blue whale", "Giraffe", "Hippopotamus"], 1),
    ("What is 7 times 8?", ["54", "56", "58", "64"], 1),
    ("Which language is spoken in Brazil?", ["Spanish", "Portuguese", "French", "English"], 1),
    ("What is the freezing point of water in Fahrenheit?", ["0", "32", "100", "212"], 1),
    ("Which organ pumps blood through the body?", ["Lungs", "Liver", "Heart", "Kidneys"], 2),
    ("What is the square root of 81?", ["7", "8", "9", "10"], 2),
    ("Which is the longest river in Africa?", ["Congo", "Niger", "Zambezi", "Nile"], 3),
    ("Who painted the Mona Lisa?", ["Leonardo da Vinci", "Pablo Picasso", "Vincent van Gogh", "Claude Monet"], 0),
    ("What is the hardest natural substance?", ["Gold", "Iron", "Diamond", "Quartz"], 2),
    ("How many days are in a leap year?", ["364", "365", "366", "367"], 2),
    ("Which element has atomic number 1?", ["Helium", "Hydrogen", "Oxygen", "Carbon"], 1),
    ("What is the capital of Japan?", ["Kyoto", "Osaka", "Tokyo", "Nagoya"], 2),
    ("Which instrument has 88 keys?", ["Guitar", "Piano", "Violin", "Flute"], 1),
    ("What is the smallest prime number?", ["0", "1", "2", "3"], 2),
    ("Which country is home to the kangaroo?", ["New Zealand", "South Africa", "Australia", "Argentina"], 2),
    ("How many sides does a hexagon have?", ["Five", "Six", "Seven", "Eight"], 1),
    ("What is the main language of Mexico?", ["Spanish", "Portuguese", "English", "French"], 0),
    ("Which vitamin does sunlight help the body make?", ["Vitamin A", "Vitamin C", "Vitamin D", "Vitamin K"], 2),
    ("What is the currency of the United Kingdom?", ["Euro", "Dollar", "Pound sterling", "Franc"], 2),
    ("Which metal is liquid at room temperature?", ["Mercury", "Lead", "Tin", "Zinc"], 0),
    ("How many minutes are in an hour?", ["30", "45", "60", "100"], 2),
    ("Which is the tallest mountain above sea level?", ["K2", "Mount Everest", "Kangchenjunga", "Denali"], 1),
    ("What is the capital of Canada?", ["Toronto", "Vancouver", "Ottawa", "Montreal"], 2),
]
WRONG_KEYS = {3: 3, 11: 0, 25: 1}  # question -> the (wrong) key the benchmark gives

SCI = [
    ("Is the Sun a star?", ["yes", "no"], 0),
    ("Which state of matter has a fixed shape?", ["solid", "liquid", "gas"], 0),
    ("What force pulls objects toward Earth?", ["magnetism", "gravity", "friction"], 1),
    ("What do bees make?", ["milk", "silk", "honey", "wax paper"], 2),
    ("Which part of the plant makes food?", ["root", "stem", "leaf", "flower", "seed"], 2),
    ("Sound travels fastest through which medium?", ["air", "water", "steel"], 2),
    ("What is H2O?", ["salt", "water", "sugar", "air"], 1),
    ("Which is a mammal?", ["shark", "dolphin", "trout", "octopus", "squid"], 1),
    ("Does light travel faster than sound?", ["yes", "no"], 0),
    ("Which planet is closest to the Sun?", ["Venus", "Earth", "Mercury", "Mars"], 2),
    ("What carries oxygen in the blood?", ["white cells", "red cells", "platelets"], 1),
    ("Which is renewable energy?", ["coal", "oil", "wind", "natural gas"], 2),
]

MODELS = {"EleutherAI__pythia-160m": 0.6, "EleutherAI__pythia-1b": 1.4, "meta-llama__Llama-3.2-3B": 2.6}


def loglikelihoods(rng, choices, truth, skill):
    lls = -rng.gamma(2.0, 1.5, size=len(choices)) - 0.4 * np.array([len(c) for c in choices]) ** 0.5
    lls[truth] += skill * rng.uniform(0.5, 1.5)
    return np.round(lls - lls.max() - rng.uniform(0.05, 1.0), 6)  # log-likelihoods are negative


def main():
    rng = np.random.default_rng(2024)
    for model, skill in MODELS.items():
        for task, items in (("mini_qa", QA), ("mini_sci", SCI)):
            docs, lls = [], []
            for i, (q, choices, truth) in enumerate(items):
                key = WRONG_KEYS.get(i, truth) if task == "mini_qa" else truth
                docs.append({"question": q, "choices": choices, "answer": key})
                boost = 4.0 if (task == "mini_qa" and i in WRONG_KEYS) else skill
                lls.append(loglikelihoods(rng, choices, truth, boost))
            folder = HERE / model
            for old in folder.glob(f"samples_{task}_*.jsonl"):
                old.unlink()
            write_samples(folder, task, make_samples(docs, lls, version="0.4.11"), version="0.4.11",
                          date_id="2025-03-14T09-26-53.589793")


if __name__ == "__main__":
    main()
