"""LLM option scoring: this engine against a naive one-forward-pass-per-option loop.

Same model (default: the bundled SmolLM2-135M-Instruct GGUF), same token ids:

  engine  core.scoring.llm_options.option_logprobs: each row's prompt and all its options packed
          into one sequence with a block attention mask (the prompt runs once),
          length-sorted token-budget batches, dynamic padding, inference_mode, only the
          needed positions through the output layer
  naive   core.scoring.llm_options.naive_option_logprobs: model(prompt + option) once per
          (row, option), full logits

Rows: --rows synthetic texts (8-40 words on four topics, seeded) in the classes-mode
prompt, each with the 4 class names as options (1-3 tokens each). The engine runs
before and after the naive loop (mean of the two timings, so load drift on a shared
machine hits both). Tokenizing and model loading are not timed. The option
probabilities of the two must agree to 1e-4 (asserted; on a GPU, where both run in
bfloat16 whose rounding depends on the batch shape, the check reruns the first 20 rows
of both in float32). Target on the 2-core CPU: >= 5x.

--prompts instead measures the prompt choices documented in core/scoring/llm_prompts.py
on small hand-written sanity sets (40 sentiment texts, 40 news sentences on the 4 AG News
topics, 24 sentences on 4 emotions, 30 easy multiple-choice questions, 30 proposed
answers): accuracy of each prompt variant, without / with contextual calibration, and
P(True)'s AUROC; then the P(IK) probe's AUROC and Brier score per hidden layer and
regularisation on 240 seeded arithmetic questions.

    python benchmarks/bench_llm.py [--rows 100] [--device auto] [--batch-size N] [--model PATH] [--prompts]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


CLASSES = ["World", "Sports", "Business", "Science and Technology"]
WORDS = {
    "World": "president election minister government treaty war border refugees protest parliament".split(),
    "Sports": "match goal team coach striker league season referee stadium tournament".split(),
    "Business": "stock market bank loan interest investor shares profit inflation merger".split(),
    "Science and Technology": "software laptop network planet vaccine research physics chip robot satellite".split(),
}
FILLER = "the a and with of today this that we they it was is on in for after about still".split()


def synthetic_rows(n: int, seed: int = 0) -> list[str]:
    """n texts of 8-40 words mixing one topic's words with filler; seeded."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(n):
        topic = WORDS[CLASSES[rng.integers(len(CLASSES))]]
        k = int(rng.integers(8, 41))
        words = [topic[rng.integers(len(topic))] if rng.random() < 0.4 else FILLER[rng.integers(len(FILLER))]
                 for _ in range(k)]
        texts.append(" ".join(words).capitalize() + ".")
    return texts


def run_llm_benchmark(n_rows: int = 100, *, device: str = "auto", batch_size: int | None = None,
                      model_path=None, seed: int = 0) -> dict:
    """Time the engine against the naive loop on ``n_rows`` x 4 options; print and return the numbers."""
    import torch

    from labelaudit.core.progress import RunContext
    from labelaudit.core.scoring import llm_loading, llm_options, llm_prompts
    from labelaudit.core.scoring.device import device_label, dtype_for, pick_device

    dev = pick_device(device)
    model, tok, name = llm_loading.load_causal_lm(model_path, device=dev, dtype=dtype_for(dev))
    prompts = [llm_prompts.CLASS_PROMPT.format(text=t) for t in synthetic_rows(n_rows, seed)]
    options = [[" " + c for c in CLASSES]] * n_rows
    prompt_ids, option_ids = llm_options.encode_options(tok, prompts, options)
    n_options = sum(len(o) for o in option_ids)
    mean_prompt = float(np.mean([len(p) for p in prompt_ids]))

    def engine():
        t0 = time.perf_counter()
        out = llm_options.option_logprobs(model, prompt_ids, option_ids, device=dev, ctx=RunContext(), batch_size=batch_size)
        _sync(dev)
        return out, time.perf_counter() - t0

    llm_options.naive_option_logprobs(model, prompt_ids[:2], option_ids[:2], device=dev)  # warm-up
    (lp_engine, n_tok, _), t_engine_1 = engine()
    t0 = time.perf_counter()
    lp_naive = llm_options.naive_option_logprobs(model, prompt_ids, option_ids, device=dev)
    _sync(dev)
    t_naive = time.perf_counter() - t0
    _, t_engine_2 = engine()
    t_engine = (t_engine_1 + t_engine_2) / 2
    p_engine, p_naive = llm_options.options_to_probs(lp_engine, n_tok), llm_options.options_to_probs(lp_naive, n_tok)
    diff = float(np.abs(p_engine - p_naive).max())
    check, checked = diff, "all rows"
    if dtype_for(dev) != torch.float32:  # bf16/fp16 rounding differs with batch shape: check the method in fp32
        m32, _, _ = llm_loading.load_causal_lm(model_path, device=dev, dtype=torch.float32)
        k = min(20, n_rows)
        lp32, n32, _ = llm_options.option_logprobs(m32, prompt_ids[:k], option_ids[:k], device=dev, ctx=RunContext())
        naive32 = llm_options.naive_option_logprobs(m32, prompt_ids[:k], option_ids[:k], device=dev)
        check = float(np.abs(llm_options.options_to_probs(lp32, n32) - llm_options.options_to_probs(naive32, n32)).max())
        checked = f"first {k} rows in float32"
    result = {
        "device": device_label(dev), "model": name, "dtype": str(dtype_for(dev)).replace("torch.", ""),
        "rows": n_rows, "options": n_options, "mean_prompt_tokens": mean_prompt,
        "engine_rows_per_s": n_rows / t_engine, "naive_rows_per_s": n_rows / t_naive,
        "ratio": t_naive / t_engine, "max_abs_prob_diff": diff, "max_abs_prob_diff_checked": check,
        "engine_s": [t_engine_1, t_engine_2], "naive_s": t_naive, "torch_threads": torch.get_num_threads(),
    }
    print(f"LLM option scoring on {result['device']} ({result['dtype']}, {result['torch_threads']} threads), "
          f"{name}: {n_rows} rows x 4 options, mean prompt {mean_prompt:.1f} tokens")
    print(f"  engine (packed prompt+options, batched)  {result['engine_rows_per_s']:8.2f} rows/s "
          f"({t_engine_1:.1f} s, {t_engine_2:.1f} s)")
    print(f"  naive (one forward per row x option)     {result['naive_rows_per_s']:8.2f} rows/s ({t_naive:.1f} s)")
    print(f"  ratio {result['ratio']:.1f}x (target >= 5x on the 2-core CPU); max |prob difference| {diff:.2e}")
    print(f"  agreement check ({checked}): max |prob difference| {check:.2e} (must be <= 1e-4)")
    assert check <= 1e-4, f"engine and naive loop disagree by {check:.3g} > 1e-4"
    return result


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- prompt sanity sets

SENTIMENT = [
    ("I loved this movie, it was wonderful.", "positive"),
    ("An absolute delight from start to finish.", "positive"),
    ("The acting was superb and the story moving.", "positive"),
    ("One of the best films I have seen this year.", "positive"),
    ("A charming, funny and heartfelt comedy.", "positive"),
    ("Brilliant direction and a great soundtrack.", "positive"),
    ("I would happily watch it again.", "positive"),
    ("The cast is fantastic and the script is sharp.", "positive"),
    ("A beautiful, touching story that stays with you.", "positive"),
    ("Great fun for the whole family.", "positive"),
    ("Stunning visuals and a gripping plot.", "positive"),
    ("I was smiling the entire time.", "positive"),
    ("A masterpiece of modern cinema.", "positive"),
    ("Highly recommended, a real gem.", "positive"),
    ("The performances are excellent across the board.", "positive"),
    ("Clever, warm and wonderfully made.", "positive"),
    ("This film made my day.", "positive"),
    ("An inspiring and uplifting experience.", "positive"),
    ("Everything about it works beautifully.", "positive"),
    ("I enjoyed every minute of it.", "positive"),
    ("I hated this movie, it was awful.", "negative"),
    ("A boring, pointless waste of two hours.", "negative"),
    ("The acting was terrible and the plot made no sense.", "negative"),
    ("One of the worst films I have ever seen.", "negative"),
    ("Dull, slow and painfully predictable.", "negative"),
    ("I walked out halfway through.", "negative"),
    ("The script is lazy and the jokes fall flat.", "negative"),
    ("A complete mess from beginning to end.", "negative"),
    ("Do not waste your money on this.", "negative"),
    ("Poorly made and badly acted.", "negative"),
    ("I fell asleep, it was so tedious.", "negative"),
    ("The story is stupid and the characters are annoying.", "negative"),
    ("A disappointing sequel that ruins the original.", "negative"),
    ("Ugly, loud and utterly forgettable.", "negative"),
    ("Nothing about it works.", "negative"),
    ("I regret watching this terrible film.", "negative"),
    ("The worst performance of his career.", "negative"),
    ("Cheap effects and an embarrassing plot.", "negative"),
    ("It was a painful, miserable experience.", "negative"),
    ("Avoid this dreadful movie at all costs.", "negative"),
]
TOPIC = [
    ("The striker scored twice as the home team won the league title.", "Sports"),
    ("The tennis champion advanced to the final after a five-set match.", "Sports"),
    ("The coach was fired after the team lost ten games in a row.", "Sports"),
    ("The quarterback threw three touchdowns in the Super Bowl.", "Sports"),
    ("The Olympic sprinter broke the world record in the 100 metres.", "Sports"),
    ("The basketball playoffs begin next week with the Lakers favoured.", "Sports"),
    ("The golfer won the tournament by four strokes.", "Sports"),
    ("The cricket team was bowled out for 120 runs.", "Sports"),
    ("The cyclist took the yellow jersey in the Tour de France.", "Sports"),
    ("The boxer defended his heavyweight title with a knockout.", "Sports"),
    ("Shares of the bank fell 5 percent after weak quarterly earnings.", "Business"),
    ("The company announced a merger worth 3 billion dollars.", "Business"),
    ("Oil prices rose as investors worried about supply.", "Business"),
    ("The central bank raised interest rates to fight inflation.", "Business"),
    ("The retailer reported record holiday sales and higher profits.", "Business"),
    ("The airline cut 2,000 jobs to reduce costs.", "Business"),
    ("Stocks on Wall Street closed higher on Friday.", "Business"),
    ("The automaker recalled a million cars and its stock dropped.", "Business"),
    ("The startup raised 50 million dollars from venture capital investors.", "Business"),
    ("Unemployment fell to its lowest level in a decade.", "Business"),
    ("Scientists discovered a new planet orbiting a nearby star.", "Sci/Tech"),
    ("The company released a new smartphone with a faster processor.", "Sci/Tech"),
    ("Researchers developed a vaccine using new gene technology.", "Sci/Tech"),
    ("NASA launched a probe to study the surface of Mars.", "Sci/Tech"),
    ("A security flaw in the software lets hackers steal passwords.", "Sci/Tech"),
    ("The new operating system update improves battery life.", "Sci/Tech"),
    ("Physicists measured the mass of the particle with high precision.", "Sci/Tech"),
    ("Google unveiled an artificial intelligence model for translation.", "Sci/Tech"),
    ("Astronomers photographed a black hole for the first time.", "Sci/Tech"),
    ("The internet provider is rolling out faster broadband.", "Sci/Tech"),
    ("The president met the prime minister to discuss the peace treaty.", "World"),
    ("Rebels attacked the capital as the civil war continued.", "World"),
    ("Voters in France go to the polls to elect a new parliament.", "World"),
    ("The United Nations called for a ceasefire in the region.", "World"),
    ("An earthquake killed hundreds of people in the mountain villages.", "World"),
    ("The government announced new sanctions against the regime.", "World"),
    ("Protesters clashed with police in the streets of the capital.", "World"),
    ("The foreign minister visited China for talks on trade and security.", "World"),
    ("Troops withdrew from the border after the agreement.", "World"),
    ("Thousands of refugees fled the fighting across the border.", "World"),
]
EMOTION = [
    ("I just got the job, I am so happy!", "joy"),
    ("We won the lottery, best day ever!", "joy"),
    ("My best friend surprised me with a party and I could not stop laughing.", "joy"),
    ("The sun is out and I feel wonderful.", "joy"),
    ("I am thrilled to see my family again.", "joy"),
    ("What a lovely, cheerful morning.", "joy"),
    ("My dog died yesterday and I cannot stop crying.", "sadness"),
    ("I feel so lonely since she left.", "sadness"),
    ("I miss my grandmother every day.", "sadness"),
    ("Nobody came to my birthday and I feel empty.", "sadness"),
    ("I failed the exam and feel hopeless.", "sadness"),
    ("It breaks my heart to say goodbye.", "sadness"),
    ("How dare they lie to me like that!", "anger"),
    ("I am furious that the bus left without me.", "anger"),
    ("Stop yelling at me, you idiot!", "anger"),
    ("I hate it when people cut in line, it makes me so mad.", "anger"),
    ("The company cheated me and I am livid.", "anger"),
    ("I want to scream at that rude waiter.", "anger"),
    ("I heard footsteps in the dark and froze in terror.", "fear"),
    ("I am scared of the exam results tomorrow.", "fear"),
    ("The storm is getting worse and I am afraid.", "fear"),
    ("Something is moving under my bed, I am terrified.", "fear"),
    ("I panic every time the plane shakes.", "fear"),
    ("I am nervous that someone is following me.", "fear"),
]
MULTIPLE_CHOICE = [
    ("What is the capital of France?", ["Paris", "Banana", "Ocean", "Guitar"], 0),
    ("Which animal says moo?", ["Cat", "Cow", "Fish", "Snake"], 1),
    ("What colour is the sky on a clear day?", ["Green", "Red", "Blue", "Black"], 2),
    ("How many legs does a spider have?", ["Two", "Four", "Six", "Eight"], 3),
    ("What do bees make?", ["Honey", "Milk", "Glass", "Paper"], 0),
    ("Which planet do we live on?", ["Mars", "Earth", "Jupiter", "Venus"], 1),
    ("What is frozen water called?", ["Steam", "Sand", "Ice", "Oil"], 2),
    ("Which season is the coldest?", ["Summer", "Spring", "Autumn", "Winter"], 3),
    ("What do you use to write on paper?", ["Pen", "Spoon", "Shoe", "Cup"], 0),
    ("Which is a fruit?", ["Hammer", "Apple", "Car", "Chair"], 1),
    ("What is the opposite of hot?", ["Tall", "Fast", "Cold", "Loud"], 2),
    ("Where do fish live?", ["Desert", "Sky", "Forest", "Water"], 3),
    ("What is the largest ocean on Earth?", ["Pacific", "Arctic", "Indian", "Atlantic"], 0),
    ("Who wrote Romeo and Juliet?", ["Charles Dickens", "William Shakespeare", "Mark Twain", "Jane Austen"], 1),
    ("What gas do plants take in from the air?", ["Oxygen", "Helium", "Carbon dioxide", "Hydrogen"], 2),
    ("What is 2 plus 2?", ["Three", "Five", "Six", "Four"], 3),
    ("Which organ pumps blood through the body?", ["Heart", "Lung", "Liver", "Skin"], 0),
    ("What is the capital of Japan?", ["Beijing", "Tokyo", "Seoul", "Bangkok"], 1),
    ("Which animal is known as the king of the jungle?", ["Mouse", "Rabbit", "Lion", "Sheep"], 2),
    ("What do cows drink?", ["Milk", "Juice", "Coffee", "Water"], 3),
    ("Which of these is a colour?", ["Purple", "Table", "Run", "Seven"], 0),
    ("How many days are in a week?", ["Five", "Seven", "Ten", "Twelve"], 1),
    ("What do we call a baby dog?", ["Kitten", "Calf", "Puppy", "Chick"], 2),
    ("Which instrument has black and white keys?", ["Drum", "Flute", "Violin", "Piano"], 3),
    ("What is the boiling point of water in Celsius?", ["100", "10", "50", "500"], 0),
    ("Which country is famous for the pyramids of Giza?", ["Brazil", "Egypt", "Canada", "Norway"], 1),
    ("What is the main language spoken in Spain?", ["German", "French", "Spanish", "Russian"], 2),
    ("Which shape has three sides?", ["Square", "Circle", "Hexagon", "Triangle"], 3),
    ("What does a thermometer measure?", ["Temperature", "Weight", "Distance", "Time"], 0),
    ("Which metal is liquid at room temperature?", ["Iron", "Mercury", "Gold", "Copper"], 1),
]
PROPOSED = [
    ("What is the capital of France?", "Paris", "Berlin"),
    ("How many legs does a dog have?", "Four", "Ten"),
    ("What colour is grass?", "Green", "Purple"),
    ("What is 2 + 2?", "4", "7"),
    ("Who wrote Hamlet?", "William Shakespeare", "Albert Einstein"),
    ("What is the largest planet in the solar system?", "Jupiter", "Pluto"),
    ("What do bees make?", "Honey", "Steel"),
    ("What is frozen water called?", "Ice", "Fire"),
    ("What is the capital of Japan?", "Tokyo", "London"),
    ("Which animal barks?", "A dog", "A fish"),
    ("How many days are in a week?", "Seven", "Three"),
    ("What is the boiling point of water at sea level in Celsius?", "100 degrees", "5 degrees"),
    ("What is the opposite of up?", "Down", "Banana"),
    ("Which ocean is the largest?", "The Pacific Ocean", "Lake Geneva"),
    ("What is the chemical symbol for water?", "H2O", "NaCl"),
]


def run_prompt_sanity(*, device: str = "auto", model_path=None) -> dict:
    """Accuracy of each prompt variant on the sanity sets; print and return {(set, variant): accuracy}."""
    from sklearn.metrics import roc_auc_score

    from labelaudit.core.progress import RunContext
    from labelaudit.core.scoring import llm_loading, llm_options, llm_prompts
    from labelaudit.core.scoring.device import device_label, dtype_for, pick_device

    dev = pick_device(device)
    model, tok, name = llm_loading.load_causal_lm(model_path, device=dev, dtype=dtype_for(dev))

    def probs(prompts, options):
        p_ids, o_ids = llm_options.encode_options(tok, prompts, options)
        lp, n_tok, _ = llm_options.option_logprobs(model, p_ids, o_ids, device=dev, ctx=RunContext())
        return llm_options.options_to_probs(lp, n_tok)

    def chat(body, cue):
        return tok.apply_chat_template([{"role": "user", "content": body}], add_generation_prompt=True,
                                       tokenize=False) + cue

    class_variants = {
        "class list, Answer:": lambda t, cl: f"Text: {t}\nWhich category fits best: {cl}?\nAnswer:",
        "class list, Answer:, chat template": lambda t, cl: chat(f"Text: {t}\nWhich category fits best: {cl}?",
                                                                 "Answer:"),
        "Category:": lambda t, cl: f"Text: {t}\nCategory:",
        "Category:, chat template": lambda t, cl: chat(f"Text: {t}", "Category:"),
        "This text is about (default)": lambda t, cl: llm_prompts.CLASS_PROMPT.format(text=t),
    }
    results = {}
    print(f"Prompt sanity sets, {name} on {device_label(dev)}: accuracy raw / with contextual calibration")
    for set_name, rows in [("sentiment", SENTIMENT), ("topics", TOPIC), ("emotion", EMOTION)]:
        classes = sorted({label for _, label in rows})
        y = np.array([classes.index(label) for _, label in rows])
        for variant, make in class_variants.items():
            p = probs([make(t, ", ".join(classes)) for t, _ in rows], [[" " + c for c in classes]] * len(rows))
            prior = probs([make(t, ", ".join(classes)) for t in llm_prompts.CONTENT_FREE],
                          [[" " + c for c in classes]] * len(llm_prompts.CONTENT_FREE)).mean(axis=0)
            raw, cal = np.mean(p.argmax(1) == y), np.mean((p / prior).argmax(1) == y)
            results[(set_name, variant)] = (raw, cal)
            print(f"  {set_name:10s} {variant:42s} {raw:.3f} / {cal:.3f}")
    for variant in class_variants:
        raw, cal = np.mean([results[(s, variant)] for s in ("sentiment", "topics", "emotion")], axis=0)
        print(f"  {'mean':10s} {variant:42s} {raw:.3f} / {cal:.3f}")
    y = np.array([a for _, _, a in MULTIPLE_CHOICE])
    conts = [[" " + o for o in opts] for _, opts, _ in MULTIPLE_CHOICE]
    mc_variants = {
        "cloze: Question: ... Answer: (default)": [llm_prompts.MC_CLOZE_PROMPT.format(question=q)
                                                   for q, _, _ in MULTIPLE_CHOICE],
        "options listed, option text scored": [llm_prompts.MC_LISTED_PROMPT.format(
            question=q, options=llm_prompts.list_options(o)) for q, o, _ in MULTIPLE_CHOICE],
        "options listed, chat template": [llm_prompts.render(llm_prompts.MC_LISTED_PROMPT, tok, True, question=q,
                                                             options=llm_prompts.list_options(o))
                                          for q, o, _ in MULTIPLE_CHOICE],
    }
    for variant, prompts in mc_variants.items():
        acc = float(np.mean(probs(prompts, conts).argmax(1) == y))
        results[("multiple choice", variant)] = acc
        print(f"  {'mult.choice':10s} {variant:42s} {acc:.3f}")
    letters = [[" " + llm_prompts.option_letter(i) for i in range(4)]] * len(MULTIPLE_CHOICE)
    acc = float(np.mean(probs(mc_variants["options listed, option text scored"], letters).argmax(1) == y))
    results[("multiple choice", "options listed, letter scored")] = acc
    print(f"  {'mult.choice':10s} {'options listed, letter scored':42s} {acc:.3f}")
    rows = [(q, a, True) for q, a, _ in PROPOSED] + [(q, b, False) for q, _, b in PROPOSED]
    truth = np.array([c for _, _, c in rows])
    for chat_on in (False, True):
        prompts = [llm_prompts.render(llm_prompts.PTRUE_PROMPT, tok, chat_on, question=q, answer=a) for q, a, _ in rows]
        p_true = probs(prompts, [list(llm_prompts.PTRUE_CONTINUATIONS)] * len(rows))[:, 0]
        auroc = float(roc_auc_score(truth, p_true))
        results[("p_true", "chat" if chat_on else "plain")] = auroc
        print(f"  {'P(True)':10s} {'Kadavath prompt' + (', chat template' if chat_on else ''):42s} AUROC {auroc:.3f}")
    return results


def arithmetic_questions(n: int = 240, seed: int = 0) -> list[tuple[str, list[str], int]]:
    """n "What is a + b?" questions (1-3 digits) with 4 numeric options; seeded."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        digits = int(rng.choice([1, 1, 2, 2, 3]))
        low, high = (1 if digits == 1 else 10 ** (digits - 1)), 10 ** digits
        a, b = int(rng.integers(low, high)), int(rng.integers(low, high))
        wrong: set[int] = set()
        while len(wrong) < 3:
            x = a + b + int(rng.choice([-1, 1])) * int(rng.integers(1, max(2, (a + b) // 3) + 1))
            if x > 0 and x != a + b:
                wrong.add(x)
        options = [a + b, *sorted(wrong)]
        rng.shuffle(options)
        rows.append((f"What is {a} + {b}?", [str(o) for o in options], options.index(a + b)))
    return rows


def run_p_ik_sanity(*, device: str = "auto", model_path=None, seed: int = 0) -> dict:
    """P(IK) probe quality per hidden layer and regularisation on arithmetic questions; print and return."""
    import torch
    from sklearn.metrics import roc_auc_score

    from labelaudit.core.progress import RunContext
    from labelaudit.core.scoring import llm, llm_loading, llm_options, llm_prompts
    from labelaudit.core.scoring.device import dtype_for, pick_device

    dev = pick_device(device)
    model, tok, _ = llm_loading.load_causal_lm(model_path, device=dev, dtype=dtype_for(dev))
    rows = arithmetic_questions(seed=seed)
    prompts = [llm_prompts.MC_CLOZE_PROMPT.format(question=q) for q, _, _ in rows]
    p_ids, o_ids = llm_options.encode_options(tok, prompts, [[" " + o for o in opts] for _, opts, _ in rows])
    lp, n_tok, final = llm_options.option_logprobs(model, p_ids, o_ids, device=dev, ctx=RunContext())
    correct = lp.argmax(1) == np.array([a for _, _, a in rows])
    states = []
    with torch.inference_mode():
        for ids in p_ids:
            out = model(input_ids=torch.tensor([ids], device=dev), output_hidden_states=True)
            states.append(torch.stack([h[0, -1] for h in out.hidden_states]).float().cpu().numpy())
    states = np.stack(states)  # (n, layers + 1, d)
    n_layers = states.shape[1] - 1
    features = {f"layer {i}": states[:, i] for i in (n_layers // 3, n_layers // 2, 2 * n_layers // 3)}
    features["final, normed (used)"] = final
    print(f"P(IK) probe on {len(rows)} arithmetic questions (seed {seed}, {correct.mean():.0%} answered right): "
          "out-of-fold AUROC / Brier")
    results = {}
    for name, x in features.items():
        for c in (0.01, 0.1, 1.0):
            saved, llm.P_IK_C = llm.P_IK_C, c
            try:
                p_ik, _ = llm.p_ik_probe(x, correct, folds=5, seed=0)
            finally:
                llm.P_IK_C = saved
            auroc, brier = float(roc_auc_score(correct, p_ik)), float(np.mean((p_ik - correct) ** 2))
            results[(name, c)] = (auroc, brier)
            print(f"  {name:22s} C={c:<5} {auroc:.3f} / {brier:.4f}")
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--model", default=None, help="a causal-LM folder or .gguf file (default: the bundled SmolLM2)")
    ap.add_argument("--prompts", action="store_true", help="measure the prompt variants on the sanity sets instead")
    args = ap.parse_args(argv)
    if args.prompts:
        run_prompt_sanity(device=args.device, model_path=args.model)
        run_p_ik_sanity(device=args.device, model_path=args.model)
    else:
        run_llm_benchmark(args.rows, device=args.device, batch_size=args.batch_size, model_path=args.model)


if __name__ == "__main__":
    main()
