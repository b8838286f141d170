// The official ElevenLabs JavaScript SDK's voice lab methods, unmodified, against a running Chorus server:
// instant cloning, editing a clone's samples, voice design, speech to speech and audio isolation with its
// history.
//
// Environment: CHORUS_BASE_URL, CHORUS_API_KEY, CHORUS_VOICE_ID (a premade voice), CHORUS_AWB_VOICE_ID and
// CHORUS_SLT_VOICE_ID (two premade voices whose speech serves as the samples: a low and a higher one).
// Prints one JSON line per check: {"check": name, "ok": true|false, "detail": ...}
// and exits 1 when any check failed (2 when the environment is incomplete).

import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";

import { ElevenLabsClient, ElevenLabsError } from "@elevenlabs/elevenlabs-js";

const baseUrl = process.env.CHORUS_BASE_URL;
const apiKey = process.env.CHORUS_API_KEY;
const premadeId = process.env.CHORUS_VOICE_ID;
const awbId = process.env.CHORUS_AWB_VOICE_ID;
const sltId = process.env.CHORUS_SLT_VOICE_ID;
if (!baseUrl || !apiKey || !premadeId || !awbId || !sltId) {
    console.error(
        "voice_lab_contract: set CHORUS_BASE_URL, CHORUS_API_KEY, CHORUS_VOICE_ID, CHORUS_AWB_VOICE_ID and CHORUS_SLT_VOICE_ID",
    );
    process.exit(2);
}

// Requests the SDK logged (method, URL, status) since the current check began.
let requests = [];
const recorder = {
    debug: (message, meta) => record(message, meta),
    info: () => {},
    warn: () => {},
    error: (message, meta) => record(message, meta),
};
function record(message, meta = {}) {
    if (message === "Making HTTP request") requests.push({ method: meta.method, url: meta.url });
    else if (requests.length) requests[requests.length - 1].outcome = meta.statusCode ?? message;
}

const client = new ElevenLabsClient({
    apiKey,
    baseUrl,
    maxRetries: 0,
    timeoutInSeconds: 300,
    logging: { level: "debug", logger: recorder, silent: false },
});
const nonce = randomBytes(4).toString("hex").replace(/\d/g, (d) => "abcdefghij"[d]);
const results = [];

class CheckFailed extends Error {}

function expect(condition, message) {
    if (!condition) throw new CheckFailed(message);
}

async function check(name, fn) {
    requests = [];
    let line;
    try {
        const detail = await fn();
        line = { check: name, ok: true, detail: detail ?? null };
    } catch (err) {
        line = { check: name, ok: false, detail: describeError(err) };
    }
    results.push(line);
    console.log(JSON.stringify(line));
    return line.ok;
}

function describeError(err) {
    const detail = { error: err instanceof CheckFailed ? err.message : String(err?.message ?? err) };
    if (err instanceof ElevenLabsError) {
        detail.statusCode = err.statusCode ?? null;
        detail.body = err.body ?? null;
    } else if (err?.name === "ParseError" || err?.name === "JsonError") {
        detail.kind = "the SDK rejected the body against its schema";
    } else if (!(err instanceof CheckFailed) && err?.stack) {
        detail.stack = err.stack.split("\n").slice(0, 6).join("\n");
    }
    detail.requests = requests;
    return detail;
}

/** Expect `fn` to throw an ElevenLabsError with `statusCode`; returns its body. */
async function expectStatus(statusCode, fn) {
    try {
        await fn();
    } catch (err) {
        if (!(err instanceof ElevenLabsError)) throw err;
        expect(
            err.statusCode === statusCode,
            `expected statusCode ${statusCode}, got ${err.statusCode}: ${JSON.stringify(err.body)}`,
        );
        return err.body;
    }
    throw new CheckFailed(`expected an ElevenLabsError with statusCode ${statusCode}, got a result`);
}

async function readAll(stream) {
    const parts = [];
    for await (const part of stream) parts.push(Buffer.from(part));
    return Buffer.concat(parts);
}

function looksLikeMp3(bytes) {
    if (bytes.length < 4) return false;
    if (bytes.subarray(0, 3).toString("latin1") === "ID3") return true;
    return bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0;
}

/** A mono 16-bit WAV file around raw little-endian PCM. */
function wav(pcm, rate = 16000) {
    const header = Buffer.alloc(44);
    header.write("RIFF", 0, "latin1");
    header.writeUInt32LE(36 + pcm.length, 4);
    header.write("WAVEfmt ", 8, "latin1");
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(rate, 24);
    header.writeUInt32LE(rate * 2, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write("data", 36, "latin1");
    header.writeUInt32LE(pcm.length, 40);
    return Buffer.concat([header, pcm]);
}

/** Speech from a premade voice as 16 kHz PCM (what the Python contract tests clone from, too). */
async function speech(voiceId, text) {
    return readAll(
        await client.textToSpeech.convert(voiceId, { text, outputFormat: "pcm_16000", enableLogging: false }),
    );
}

/** `pcm` with white noise added (a fixed pseudo-random sequence) at about 6 dB SNR. */
function withNoise(pcm) {
    const count = pcm.length / 2;
    let power = 0;
    for (let i = 0; i < count; i++) power += pcm.readInt16LE(2 * i) ** 2;
    const scale = Math.sqrt(power / count / 4) * Math.sqrt(3); // uniform noise of that power
    let state = 12345;
    const out = Buffer.alloc(pcm.length);
    for (let i = 0; i < count; i++) {
        state = (state * 1103515245 + 12345) % 2147483648;
        const noise = (state / 1073741824 - 1) * scale;
        out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(pcm.readInt16LE(2 * i) + noise))), 2 * i);
    }
    return out;
}

function file(data, filename, contentType = "audio/wav") {
    return { data, filename, contentType };
}

// ---------------------------------------------------------------------------------------------

const TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank.";
const OTHER = "Seven bright kites drifted over the harbour while the fishing boats came home.";
const DESIGN_TEXT =
    "Welcome aboard, everyone. Please find your seats, stow your bags, and enjoy the view as we leave the harbour.";

let awbWav = null;
let sltWav = null;
let cloneId = null;
let addedSample = null;
let designedId = null;
const created = [];

await check("voices.ivc.create", async () => {
    awbWav = wav(await speech(awbId, `${TEXT} ${TEXT}`));
    const result = await client.voices.ivc.create({
        name: `JS clone ${nonce}`,
        files: [file(awbWav, "awb.wav")],
        description: "cloned by the JavaScript SDK",
        labels: { accent: "x" },
    });
    expect(typeof result.voiceId === "string" && result.voiceId, "no voiceId");
    expect(result.requiresVerification === false, `requiresVerification ${result.requiresVerification}`);
    cloneId = result.voiceId;
    created.push(cloneId);
    const voice = await client.voices.get(cloneId);
    expect(voice.category === "cloned", `category ${voice.category}`);
    expect(voice.labels?.accent === "x", `labels ${JSON.stringify(voice.labels)}`);
    expect(voice.samples?.length === 1 && voice.samples[0].fileName === "awb.wav", "one sample, awb.wav");
    const audio = await readAll(
        await client.textToSpeech.convert(cloneId, { text: "Hello there.", outputFormat: "pcm_16000" }),
    );
    expect(audio.length > 8000, `the clone spoke ${audio.length} bytes`);
    return { voiceId: cloneId, sampleBytes: awbWav.length };
});

await check("voices.update.files", async () => {
    expect(cloneId, "needs voices.ivc.create");
    sltWav = wav(await speech(sltId, `${OTHER} ${OTHER}`));
    const result = await client.voices.update(cloneId, {
        name: `JS clone edited ${nonce}`,
        files: [file(sltWav, "slt.wav")],
        removeBackgroundNoise: false,
        labels: { accent: "y" },
    });
    expect(result.status === "ok", `status ${result.status}`);
    const voice = await client.voices.get(cloneId);
    expect(voice.name === `JS clone edited ${nonce}`, `name ${voice.name}`);
    expect(voice.labels?.accent === "y", `labels ${JSON.stringify(voice.labels)}`);
    const names = (voice.samples ?? []).map((s) => s.fileName);
    expect(names.join(",") === "awb.wav,slt.wav", `samples ${names}`);
    addedSample = voice.samples[1];
    const stored = await readAll(await client.voices.samples.audio.get(cloneId, addedSample.sampleId));
    expect(stored.equals(sltWav), `the stored sample (${stored.length} bytes) is not the upload (${sltWav.length})`);
    const premade = await expectStatus(400, () => client.voices.update(premadeId, { name: "not mine" }));
    expect(premade?.detail?.status === "voice_not_editable", `premade edit: ${JSON.stringify(premade)}`);
    return { samples: names };
});

await check("samples.delete", async () => {
    expect(addedSample, "needs voices.update.files");
    const result = await client.samples.delete(cloneId, addedSample.sampleId);
    expect(result.status === "ok", `status ${result.status}`);
    const voice = await client.voices.get(cloneId);
    const names = (voice.samples ?? []).map((s) => s.fileName);
    expect(names.join(",") === "awb.wav", `samples after the delete: ${names}`);
    const again = await expectStatus(404, () => client.samples.delete(cloneId, addedSample.sampleId));
    expect(again?.detail?.status === "sample_not_found", `second delete: ${JSON.stringify(again)}`);
    return { left: names };
});

let designed = null;
await check("textToVoice.design", async () => {
    designed = await client.textToVoice.design({
        voiceDescription: "A warm, friendly ship captain with a deep voice and a slow, steady pace.",
        text: DESIGN_TEXT,
        seed: 21,
        outputFormat: "mp3_22050_32",
    });
    expect(designed.text === DESIGN_TEXT, `text ${JSON.stringify(designed.text)}`);
    expect(Array.isArray(designed.previews) && designed.previews.length > 0, "no previews");
    for (const preview of designed.previews) {
        const audio = Buffer.from(preview.audioBase64, "base64");
        expect(looksLikeMp3(audio), `preview ${preview.generatedVoiceId} is not MP3`);
        expect(preview.mediaType === "audio/mpeg", `mediaType ${preview.mediaType}`);
        expect(preview.durationSecs > 2, `durationSecs ${preview.durationSecs}`);
    }
    return { previews: designed.previews.length };
});

await check("textToVoice.create", async () => {
    expect(designed, "needs textToVoice.design");
    const voice = await client.textToVoice.create({
        voiceName: `JS captain ${nonce}`,
        voiceDescription: "A warm, friendly ship captain with a deep voice and a slow, steady pace.",
        generatedVoiceId: designed.previews[0].generatedVoiceId,
        labels: { use_case: "narration" },
    });
    expect(voice.category === "generated", `category ${voice.category}`);
    expect(voice.name === `JS captain ${nonce}`, `name ${voice.name}`);
    designedId = voice.voiceId;
    created.push(designedId);
    expect((await client.voices.get(designedId)).voiceId === designedId, "voices.get of the new voice");
    return { voiceId: designedId };
});

await check("textToVoice.remix", async () => {
    expect(designedId, "needs textToVoice.create");
    const remixed = await client.textToVoice.remix(designedId, {
        voiceDescription: "Make him higher and a little faster.",
        text: DESIGN_TEXT,
        seed: 8,
    });
    expect(remixed.text === DESIGN_TEXT, `text ${JSON.stringify(remixed.text)}`);
    expect(remixed.previews.length > 0, "no previews");
    const audio = Buffer.from(remixed.previews[0].audioBase64, "base64");
    expect(audio.length > 0, "empty preview audio");
    const ids = remixed.previews.map((p) => p.generatedVoiceId);
    expect(new Set(ids).size === ids.length, `repeated generatedVoiceIds ${ids}`);
    return { previews: remixed.previews.length };
});

await check("speechToSpeech.convert", async () => {
    expect(awbWav, "needs the sample of voices.ivc.create");
    const audio = await readAll(
        await client.speechToSpeech.convert(sltId, {
            audio: file(awbWav, "in.wav"),
            modelId: "eleven_multilingual_sts_v2",
            seed: 1,
        }),
    );
    expect(looksLikeMp3(audio), `not MP3: starts with ${audio.subarray(0, 4).toString("hex")}`);
    // 128 kb/s MP3 of speech as long as the input (several seconds): well over 40 kB.
    expect(audio.length > 40000, `${audio.length} bytes`);
    const pcm = await readAll(
        await client.speechToSpeech.convert(sltId, { audio: file(awbWav, "in.wav"), outputFormat: "pcm_16000" }),
    );
    const seconds = pcm.length / 2 / 16000;
    const inputSeconds = (awbWav.length - 44) / 2 / 16000;
    expect(Math.abs(seconds - inputSeconds) < 0.3, `${seconds} s out for ${inputSeconds} s in`);
    return { bytes: audio.length, seconds };
});

const isolationTitle = `js-isolation-${nonce}.wav`;
let isolated = null;
let historyItem = null;

await check("audioIsolation.convert", async () => {
    const noisy = wav(withNoise(await speech(premadeId, "Cleaning up a noisy recording with the JavaScript client.")));
    isolated = await readAll(await client.audioIsolation.convert({ audio: file(noisy, isolationTitle) }));
    expect(looksLikeMp3(isolated), `not MP3: starts with ${isolated.subarray(0, 4).toString("hex")}`);
    return { bytes: isolated.length };
});

await check("audioIsolation.list", async () => {
    expect(isolated, "needs audioIsolation.convert");
    const listing = await client.audioIsolation.list({ search: `js-isolation-${nonce}`, pageSize: 10 });
    expect(listing.hasMore === false, `hasMore ${listing.hasMore}`);
    expect(listing.items.length === 1, `${listing.items.length} items for this run's title`);
    historyItem = listing.items[0];
    expect(historyItem.title === isolationTitle, `title ${historyItem.title}`);
    expect(historyItem.processing === false, `processing ${historyItem.processing}`);
    expect(historyItem.durationSeconds > 1, `durationSeconds ${historyItem.durationSeconds}`);
    expect(typeof historyItem.createdAtUnix === "number", `createdAtUnix ${historyItem.createdAtUnix}`);
    const download = await fetch(historyItem.downloadUrl, { headers: { "xi-api-key": apiKey } });
    expect(download.status === 200, `downloadUrl answered ${download.status}`);
    const body = Buffer.from(await download.arrayBuffer());
    expect(body.equals(isolated), `downloadUrl served ${body.length} bytes, convert answered ${isolated.length}`);
    const all = await client.audioIsolation.list({ pageSize: 1 });
    expect(all.items.length === 1, `pageSize 1 gave ${all.items.length} items`);
    return { id: historyItem.id, format: historyItem.format };
});

await check("audioIsolation.delete", async () => {
    expect(historyItem, "needs audioIsolation.list");
    await client.audioIsolation.delete(historyItem.id);
    const listing = await client.audioIsolation.list({ search: `js-isolation-${nonce}` });
    expect(listing.items.length === 0, "the deleted item is still listed");
    await expectStatus(404, () => client.audioIsolation.delete(historyItem.id));
    return { deleted: historyItem.id };
});

await check("voices.delete", async () => {
    for (const id of created) {
        const result = await client.voices.delete(id);
        expect(result.status === "ok", `delete ${id}: ${result.status}`);
    }
    if (cloneId) await expectStatus(404, () => client.voices.get(cloneId));
    return { deleted: created };
});

process.exit(results.every((r) => r.ok) ? 0 : 1);
