"""A small GPT-style transformer (causal self-attention) on the play in data/text, printing samples.

    python examples/gpt_char.py [--lib torch] [--steps N]
"""
import math
import time

from _common import load_text, parse


def build(lib, vocab, block, d_model=128, n_layers=2, n_heads=4):
    nn = lib.nn

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, d_model)
            self.pos = nn.Embedding(block, d_model)
            layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=4 * d_model, dropout=0.1,
                                               batch_first=True, norm_first=True, activation="gelu")
            self.blocks = nn.TransformerEncoder(layer, n_layers)
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(block), persistent=False)

        def forward(self, x):
            t = x.shape[1]
            h = self.tok(x) + self.pos(lib.arange(t))
            h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
            return self.head(self.norm(h))
    return GPT()


def main():
    args, lib = parse(__doc__.splitlines()[0], steps=300, block=64, batch_size=32)
    lib.manual_seed(args.seed)
    text = load_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = lib.tensor([stoi[c] for c in text], dtype=lib.int64)
    model = build(lib, len(chars), args.block)
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = lib.nn.CrossEntropyLoss()
    offsets = lib.arange(args.block + 1)
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        starts = lib.randint(0, data.shape[0] - args.block - 1, (args.batch_size, 1))
        chunk = data[starts + offsets]
        logits = model(chunk[:, :-1])
        loss = loss_fn(logits.reshape(-1, len(chars)), chunk[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print("step %4d  loss %.3f  (%.2f bits/char)  %.1f s" % (step, loss.item(), loss.item() / math.log(2),
                                                                     time.perf_counter() - t0))
    model.eval()
    out = [stoi[c] for c in "MACBETH\n"]
    with lib.no_grad():
        for _ in range(300):
            x = lib.tensor([out[-args.block:]])
            probs = (model(x)[0, -1] / 0.8).softmax(dim=-1)
            out.append(int(lib.multinomial(probs, 1).item()))
    print("--- sample ---")
    print("".join(chars[i] for i in out))
    print("final loss %.3f" % loss.item())


if __name__ == "__main__":
    main()
