"""The Typer application, its shared option types and help texts, and error rendering.

Command groups register on ``app`` from their own modules (``merging``, ``datasets``,
``training``). The CLI imports the core lazily inside commands, so ``--help`` stays fast.
"""

from __future__ import annotations

from enum import Enum

import typer
from rich.console import Console

from selfhdr_cli.errors import SelfHDRError

app = typer.Typer(
    name="selfhdr",
    help="Merge exposure brackets of moving scenes into ghost-free HDR images (SelfHDR, ICLR 2024).\n\n"
         "HDR values are in short-exposure units: g(I)/t with the shortest frame at t = 1, so a "
         "pixel that just saturates the shortest frame has value 1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True)


class Method(str, Enum):
    net = "net"
    color = "color"
    debevec = "debevec"
    ref = "ref"


class Network(str, Enum):
    fastnet = "fastnet"
    ahdrnet = "ahdrnet"


class Preset(str, Enum):
    cpu = "cpu"
    gpu = "gpu"
    tiny = "tiny"
    finetune = "finetune"


class Recipe(str, Enum):
    robust = "robust"
    paper = "paper"


class Split(str, Enum):
    train = "train"
    val = "val"
    benchmark = "benchmark"
    test = "test"
    all = "all"


class Units(str, Enum):
    short = "short"
    seconds = "seconds"


EXPOSURES_HELP = ("Exposure times in seconds, one per frame in the order given: [bold]1/60,1/15,1/4[/] or "
                  "decimals; or a text file of them (one per line, or 'name time' lines); or [bold]auto[/]: "
                  "estimated from the pixels (also what happens when no source has them). Wins over every "
                  "other source.")
EV_HELP = "Exposure in stops, one per frame in the order given: [bold]-2,0,2[/] (t = 2^EV)."
REFERENCE_HELP = ("Reference frame whose geometry the output keeps: an index in exposure order "
                  "(0 = shortest) or a file name. Default: the middle one.")
CRF_HELP = "Camera response g: [bold]gamma:2.2[/] (default), [bold]srgb[/] or [bold]linear[/]."
WEIGHTS_HELP = "Network weights (.safetensors from 'selfhdr train'). Default: the shipped weights."
TILE_HELP = ("Tile size in pixels for network inference, so memory stays bounded (overlap is automatic); "
             "0 = automatic: one pass up to about 2.4 MP, else 768 px tiles.")
DEVICE_HELP = "auto (CUDA if available, else CPU), cpu, cuda or cuda:N."
DEFAULT_FLOW = "dis-fine"  # merge.align.DEFAULT_FLOW, repeated so that --help imports no numpy (a test ties them)
DEFAULT_CRF = "gamma:2.2"  # radiometry.response.CameraResponse() as text (a test ties them)
DEFAULT_COLOUR_MERGE = "snr"  # merge.colour.ColorConfig().merge (a test ties them)
DEFAULT_RECIPE = "robust"  # training.loop.DEFAULT_RECIPE (a test ties them)
FLOW_HELP = ("Optical flow for alignment: dis-fine (the default, chosen on the validation split by "
             "benchmarks/flow_choice.py), dis-medium, dis-fast, dis-ultrafast, farneback. With --method net "
             "the default is the flow the weights were trained behind.")


def fail(exc: SelfHDRError) -> None:
    err.print(f"[bold red]selfhdr: error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _run_settings(crf: str, flow: str | None, colour_merge: str | None = None, global_motion: str = "homography",
                  white_balance: str = "camera", raw_space: str = "srgb", trust_exposures: bool = False):
    """The one settings value of a run, from its flags, parsed once here and passed down:
    (BracketSettings: response, RAW development, exposure trust; ColorConfig: the same response,
    alignment and colour merge)."""
    from selfhdr_cli.merge.align import AlignConfig
    from selfhdr_cli.merge.bracket import bracket_settings
    from selfhdr_cli.merge.colour import ColorConfig
    from selfhdr_cli.radiometry.response import parse_response

    response = parse_response(crf)
    bracket = bracket_settings(response, white_balance, raw_space, trust_exposures)
    color = ColorConfig(response=response, align=AlignConfig(flow=flow or DEFAULT_FLOW, global_motion=global_motion),
                        merge=colour_merge or DEFAULT_COLOUR_MERGE)
    return bracket, color


class Tonemap(str, Enum):
    reinhard = "reinhard"
    mu_law = "mu-law"
    gamma = "gamma"


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # off a terminal a live bar would only leave a blank line in front of the messages
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


def _train_progress():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=err)


DATASET_HELP = "Folder of unlabelled brackets, one subfolder per scene (Kalantari layout); ground truth is never read."
WORK_HELP = "Work folder for the colour cache, Y_stru, checkpoints and weights (default <DATASET>.selfhdr)."
PRESET_HELP = ("Schedule: [bold]cpu[/] (default; both stages in about an hour on 2 cores), [bold]gpu[/] (the "
               "published 180 k iterations, batch 16), [bold]tiny[/] (smoke test), [bold]finetune[/] (the default "
               "with --init: 600 steps at lr 1e-4, minutes). Flags below override it.")
VAL_HELP = "A labelled dataset (<scene>/HDRImg.hdr) to report PSNR-μ on during training."


# options shared by train-structure and train (Typer option objects are plain metadata)
WORK_OPTION = typer.Option(None, "--work", help=WORK_HELP)
PRESET_OPTION = typer.Option(None, "--preset", help=PRESET_HELP, show_default=False)
BATCH_OPTION = typer.Option(None, "--batch", min=1, help="Crops per iteration (per process).")
CROP_OPTION = typer.Option(None, "--crop", min=32, help="Crop size in pixels (128 published).")
LR_OPTION = typer.Option(None, "--lr", help="Adam learning rate (halved at 1/3 and 2/3).")
SEED_OPTION = typer.Option(0, "--seed", help="Seed of weights and data order.")
VAL_OPTION = typer.Option(None, "--val", help=VAL_HELP)
VAL_LIMIT_OPTION = typer.Option(0, "--val-limit", min=0, help="Use only the first N validation scenes (0 = all).")
VAL_EVERY_OPTION = typer.Option(None, "--val-every", min=1, help="Validate every N iterations.")
THREADS_OPTION = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores; shared under torchrun).")
STEPS_OPTION = typer.Option(None, "--steps", min=1, help="Training iterations (per stage).")
RESUME_OPTION = typer.Option(False, "--resume", help="Continue from the checkpoints in the work folder (there must be one).")
DEVICE_OPTION = typer.Option("auto", "--device", help=DEVICE_HELP)
CRF_OPTION = typer.Option(DEFAULT_CRF, "--crf", help=CRF_HELP)
FLOW_OPTION = typer.Option(None, "--flow", help=FLOW_HELP, show_default=False)
COLOUR_MERGE_OPTION = typer.Option(None, "--colour-merge", show_default=False,
                                   help="The colour component's fixed merge: [bold]snr[/] (default: every frame by "
                                        "its SNR, noise fitted from the bracket, disagreeing frames rejected) or "
                                        "[bold]triangle[/] (SPEC §2.4, the paper's). For train, the recipe's.")
MASKED_FRAMES_OPTION = typer.Option(None, "--masked-frames", min=0.0, max=1.0,
                                    help="Share of stage-2 crops in which the other frames are masked where they "
                                         "agree, so that a guided FastNet learns to rebuild the merge from the "
                                         "reference (the robust recipe's; 0 turns it off). For ablations.")
RECIPE_OPTION = typer.Option(Recipe(DEFAULT_RECIPE), "--recipe",
                             help="[bold]robust[/] (default: Y_color from every frame by SNR, and a FastNet that "
                                  "keeps it where frames agree) or [bold]paper[/] (SPEC §2–4 as written: triangle "
                                  "Y_color, unguided FastNet).")
SP_WEIGHT_OPTION = typer.Option(None, "--sp-weight", min=0.0, max=100.0,
                                help="Weight of stage 1's structure-preservation loss L_sp (SPEC §3: 4). For "
                                     "ablations; the default is the paper's.")
