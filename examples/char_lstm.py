"""Character-level LSTM language model on the play in data/text, printing samples.

    python examples/char_lstm.py [--lib torch] [--steps N]
"""
import math
import time

from _common import load_text, parse


class CharLSTM:
    pass


def build(lib, vocab, hidden):
    nn = lib.nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, 64)
            self.lstm = nn.LSTM(64, hidden, num_layers=2, batch_first=True, dropout=0.1)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, x, state=None):
            h, state = self.lstm(self.embed(x), state)
            return self.head(h), state
    return Model()


def sample(lib, model, stoi, itos, prompt, n, temperature=0.8):
    model.eval()
    out = list(prompt)
    with lib.no_grad():
        x = lib.tensor([[stoi[c] for c in prompt]])
        logits, state = model(x)
        for _ in range(n):
            probs = (logits[0, -1] / temperature).softmax(dim=-1)
            nxt = int(lib.multinomial(probs, 1).item())
            out.append(itos[nxt])
            logits, state = model(lib.tensor([[nxt]]), state)
    model.train()
    return "".join(out)


def main():
    args, lib = parse(__doc__.splitlines()[0], steps=300, seq_len=64, batch_size=32, hidden=128)
    lib.manual_seed(args.seed)
    text = load_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = {i: c for c, i in stoi.items()}
    data = lib.tensor([stoi[c] for c in text], dtype=lib.int64)
    model = build(lib, len(chars), args.hidden)
    opt = lib.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = lib.nn.CrossEntropyLoss()
    offsets = lib.arange(args.seq_len + 1)
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        starts = lib.randint(0, data.shape[0] - args.seq_len - 1, (args.batch_size, 1))
        chunk = data[starts + offsets]
        logits, _ = model(chunk[:, :-1])
        loss = loss_fn(logits.reshape(-1, len(chars)), chunk[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            print("step %4d  loss %.3f  (%.2f bits/char)  %.1f s" % (step, loss.item(), loss.item() / math.log(2),
                                                                     time.perf_counter() - t0))
    print("--- sample ---")
    print(sample(lib, model, stoi, itos, "MACBETH\n", 300))
    print("final loss %.3f" % loss.item())


if __name__ == "__main__":
    main()
