"""A small Lightning training script: a longtail sampler behind torchdata's StatefulDataLoader
and longtail's SeesawLoss, under ``Trainer(accelerator="cpu", devices=2, strategy="ddp",
use_distributed_sampler=False)``. Run by tests/integration/test_lightning_ddp.py.

Usage: python lightning_ddp_script.py OUT_DIR TAG [CKPT_TO_RESUME]
Each rank writes OUT_DIR/TAG_rank{r}.json: per step, the sample indices it trained on, their
labels and the loss's cum_samples after the step.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import longtail
import numpy as np
import pytorch_lightning as pl
import torch
from longtail.samplers import ClassBalancedSampler
from pytorch_lightning.callbacks import ModelCheckpoint
from torchdata.stateful_dataloader import StatefulDataLoader

warnings.filterwarnings("ignore")  # Lightning's advice on workers and logging

NUM_CLASSES = 5
COUNTS = [20, 8, 4, 2, 2]
LABELS = np.concatenate([np.full(n, c) for c, n in enumerate(COUNTS)])
FEATURES = torch.randn(len(LABELS), 6, generator=torch.Generator().manual_seed(0))


class Data(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return len(LABELS)

    def __getitem__(self, i: int):
        return FEATURES[i], int(LABELS[i]), i


class Model(pl.LightningModule):
    def __init__(self, out_dir: str, tag: str) -> None:
        super().__init__()
        self.net = torch.nn.Linear(6, NUM_CLASSES)
        self.loss = longtail.SeesawLoss(num_classes=NUM_CLASSES)
        self.out_dir, self.tag, self.record = out_dir, tag, []

    def train_dataloader(self):
        # Built after DDP is initialised: the sampler shards by the process group's rank.
        sampler = ClassBalancedSampler(LABELS, seed=7)
        return StatefulDataLoader(Data(), sampler=sampler, batch_size=3)

    def training_step(self, batch, batch_idx):
        x, y, idx = batch
        loss = self.loss(self.net(x), y)
        self.record.append(
            {
                "step": int(self.global_step),
                "epoch": int(self.current_epoch),
                "indices": idx.tolist(),
                "labels": y.tolist(),
                "cum": self.loss.cum_samples.tolist(),
            }
        )
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self) -> None:
        path = os.path.join(self.out_dir, f"{self.tag}_rank{self.global_rank}.json")
        with open(path, "w") as f:
            json.dump(
                {
                    "world_size": int(self.trainer.world_size),
                    "record": self.record,
                    "final_cum": self.loss.cum_samples.tolist(),
                },
                f,
            )


def main() -> None:
    out_dir, tag = sys.argv[1], sys.argv[2]
    ckpt = sys.argv[3] if len(sys.argv) > 3 else None
    torch.manual_seed(0)
    model = Model(out_dir, tag)
    checkpoint = ModelCheckpoint(
        dirpath=os.path.join(out_dir, "ckpt"),
        filename="{step}",
        every_n_train_steps=4,
        save_top_k=-1,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        use_distributed_sampler=False,
        max_epochs=2,
        callbacks=[checkpoint],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, ckpt_path=ckpt)


if __name__ == "__main__":
    main()
