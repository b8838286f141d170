"""Preview text that fits a voice description (``auto_generate_text``).

A preview should let the listener judge the voice in its element: a pirate talks about the sea, a news anchor
reads a bulletin, a meditation guide breathes slowly. Each theme (named by the archetypes of
:mod:`chorus.voicelab.design`) has a few passages written for it; descriptions without a theme get a general
passage chosen by their energy (lively, calm or even). Other languages than English get general passages in
that language where there are some. Every passage is 100-300 characters: ElevenLabs' preview text is
100-1000 characters, and previews are charged per character.
"""

from __future__ import annotations

import hashlib

__all__ = ["GENERAL", "LANGUAGES", "MIN_CHARS", "THEMES", "preview_text"]

MIN_CHARS = 100

THEMES: dict[str, tuple[str, ...]] = {
    "pirate": (
        "Arr, the sea has been my home for forty long years. Hoist the sails, mind the rigging, and keep "
        "your eyes on the horizon, for there be treasure waiting past the storm.",
        "Listen close, landlubber. I've sailed through hurricanes and fog so thick you could carve it. "
        "Now grab a rope and pull, or you'll be swabbing the deck till dawn!",
    ),
    "wizard": (
        "Long ago, before the mountains had names, the old magic slept beneath the stones. Sit by the "
        "fire, young one, and I shall tell you how it woke.",
        "Patience is the first spell every apprentice must learn. The stars will not hurry for you, and "
        "neither will I. Now, open the book to the third chapter.",
    ),
    "news": (
        "Good evening. Our top story tonight: city officials have approved a new plan to expand public "
        "transport, with construction set to begin early next spring.",
        "Markets closed higher today after a steady week of trading. In other news, forecasters expect "
        "clear skies and mild temperatures through the weekend.",
    ),
    "storyteller": (
        "Once upon a time, in a cottage at the edge of a quiet forest, there lived a little fox who could "
        "not fall asleep. So every night, she counted the stars.",
        "Snuggle in and close your eyes. Tonight's story is about a sleepy bear, a silver moon, and a "
        "very long walk home through the soft, snowy woods.",
    ),
    "sports": (
        "And he's through on goal, he shoots, and it's in! What a finish! The crowd is on its feet and "
        "this stadium is absolutely shaking tonight!",
        "Ten seconds left on the clock, down by one, she drives to the basket and scores! Unbelievable! "
        "They have done it, they have won the championship!",
    ),
    "villain": (
        "Did you really think you could stop me? Every step you took, every clue you found, was part of "
        "my plan. And now, at last, the city is mine.",
        "Welcome to my little kingdom. Please, make yourself comfortable. You will be staying for a very, "
        "very long time, I'm afraid.",
    ),
    "fairy": (
        "Follow the glowing lights through the garden, past the roses and the silver pond. The fairy ring "
        "only opens at midnight, so we must hurry!",
        "Oh, hello there! I'm so glad you found me. Would you like to see some magic? Just close your "
        "eyes, make a wish, and count to three.",
    ),
    "robot": (
        "Greetings, human. All systems are operational. Diagnostic complete. Please state your request "
        "clearly and wait for the confirmation tone before proceeding.",
        "Processing your query. Estimated time remaining: four seconds. Thank you for your patience. Your "
        "satisfaction is my primary directive.",
    ),
    "monster": (
        "Who dares to cross my bridge? Many travellers have tried, and few have returned. Answer my "
        "riddle, little one, or turn back the way you came.",
        "I have slept beneath this mountain for a thousand years. Your footsteps woke me. Now tell me, "
        "why should I not make you my supper?",
    ),
    "sergeant": (
        "Listen up, recruits! You will be on that field at oh five hundred, boots laced, beds made, and "
        "not a minute late. Is that understood?",
        "Move it, move it, move it! I want to see those knees higher! Nobody quits on my watch, and "
        "nobody gets left behind. Now give me twenty more!",
    ),
    "meditation": (
        "Take a slow, deep breath in, and let it go. Feel your shoulders soften and your mind settle. "
        "There is nowhere else you need to be right now.",
        "Let your eyes gently close. Notice the air moving in and out, cool and calm. With every breath, "
        "let your body grow a little heavier, a little more at ease.",
    ),
    "radio": (
        "Good morning, good morning, and welcome back to the breakfast show! We've got the best tunes, "
        "the latest traffic, and a chance to win tickets coming up!",
        "That was a classic, wasn't it? Keep those requests coming in, folks. Up next, the weather, and "
        "then three songs in a row to get your weekend started!",
    ),
    "grandmother": (
        "Come in, sweetheart, and sit down. I've just taken a batch of cookies out of the oven, and I "
        "want to hear all about your week. Did you have fun at school?",
        "When I was your age, we walked to the village every Saturday to buy bread. Your grandfather "
        "always carried the basket, and he always sang on the way home.",
    ),
    "surfer": (
        "Dude, the waves out there this morning were totally epic. Just you, the board, and the ocean, "
        "man. No stress, no rush, just riding the swell.",
        "So, like, I woke up, grabbed my board, and the sunrise was just glowing, you know? Best way to "
        "start the day. Want to paddle out later?",
    ),
    "auctioneer": (
        "Do I hear fifty, fifty, now sixty, sixty dollars, who'll give me seventy, seventy to the lady in "
        "the front, eighty, eighty, going once, going twice, sold!",
        "Lot number twelve, a fine oak table, starting at one hundred, one hundred, one-twenty, "
        "one-forty, do I see one-fifty? One-fifty it is, sold to the gentleman!",
    ),
    "ghost": (
        "I have wandered these halls for a hundred winters. Can you hear the wind in the empty rooms? "
        "Stay a while... it gets so very lonely here.",
        "Do not be afraid. I only want someone to remember me. Light a candle by the window, and I will "
        "tell you what happened on that cold, dark night.",
    ),
    "cowboy": (
        "Well, partner, the cattle won't drive themselves. We ride at sunup, and it's a long, dusty trail "
        "to the river. Best get some rest by the fire.",
        "This here's a quiet town, and I aim to keep it that way. Now, I don't want any trouble, "
        "stranger, so why don't you just tip your hat and ride on out.",
    ),
    "hero": (
        "As long as I stand, no one in this city will face the darkness alone. Stay behind me, keep your "
        "head down, and I promise we will all make it home.",
        "The odds are against us, and the night is long. But courage is not the absence of fear. It is "
        "choosing to stand up anyway. Are you with me?",
    ),
    "child": (
        "Guess what? Today at school we made a volcano, and it actually erupted! There was foam "
        "everywhere, and my teacher laughed so hard. Can we make one at home?",
        "I found a really big snail in the garden! I named him Captain Slime. Can I keep him? I promise "
        "I'll feed him leaves every single day!",
    ),
    "documentary": (
        "Far from the noise of the cities, the rainforest wakes. Every morning, thousands of creatures "
        "begin the same ancient search for food, for shelter, and for each other.",
        "High on the frozen plateau, a lone snow leopard moves without a sound. She has not eaten in "
        "days, and the winter is only just beginning.",
    ),
    "support": (
        "Thank you for calling. I'm sorry to hear about the trouble with your order. Let me pull up your "
        "account, and we'll get this sorted out for you right away.",
        "Hi there, and thanks for reaching out! I can definitely help you with that. Could you please "
        "confirm the email address on your account?",
    ),
    "trailer": (
        "In a world where silence is the law, one voice will rise. This summer, the battle for the future "
        "begins. And nothing will ever be the same.",
        "They said it couldn't be done. They said no one would survive. But one team is about to prove "
        "them wrong. Coming soon, to a theatre near you.",
    ),
    "nervous": (
        "Um, hi. Sorry, is this the right room? I, uh, I have a presentation at ten, and I think I left "
        "my notes on the bus. Do you think anyone will notice?",
        "Okay, okay, I can do this. Just breathe. It's only a speech in front of the whole school. What "
        "could possibly go wrong? Oh no, I think I'm next.",
    ),
    "professor": (
        "Good morning. Please take your seats. Today we continue our study of the French Revolution, and "
        "I expect everyone to have read the assigned chapter carefully.",
        "An hypothesis, however elegant, is worthless until it is tested. Write that down. Your lab "
        "reports are due on Friday, and I do not accept late submissions.",
    ),
    "announcer": (
        "Attention, please. The train now arriving at platform four is the ten fifteen service to the "
        "coast, calling at all stations. Please mind the gap.",
        "Ladies and gentlemen, flight two eight six is now boarding at gate twelve. Please have your "
        "boarding pass and identification ready. Thank you.",
    ),
}

# General passages by mood: "lively" (energy > 0.3), "calm" (energy < -0.3) and "even".
GENERAL: dict[str, tuple[str, ...]] = {
    "lively": (
        "Hey, it's so good to see you! I've been waiting all week to tell you about this. You're not "
        "going to believe what happened, it's honestly the best news ever!",
        "What a day! The sun is out, the coffee is hot, and I have a feeling something wonderful is about "
        "to happen. Come on, let's get started right now!",
    ),
    "calm": (
        "There's no need to hurry. The evening is quiet, the tea is warm, and we have all the time in the "
        "world. Let's just sit here for a moment and enjoy it.",
        "Some things are best said slowly. Take a moment, listen to the rain against the window, and let "
        "the day drift gently away.",
    ),
    "even": (
        "Every act of kindness, no matter how small, carries value and can make a difference, as no "
        "gesture of goodwill is ever wasted. Let me tell you why.",
        "The best journeys often begin with a single step out of the door. Whether it's a walk in the "
        "park or a trip across the world, there is always something new to discover.",
        "Thank you for listening. I'd love to be the voice of your next story, your next project, or your "
        "next great idea. Let's create something memorable together.",
    ),
}

# General passages in other languages (any mood).
LANGUAGES: dict[str, tuple[str, ...]] = {
    "es": (
        "Cada acto de bondad, por pequeño que sea, tiene valor y puede marcar la diferencia. Ningún gesto "
        "de buena voluntad se desperdicia nunca. Déjame contarte por qué.",
        "Los mejores viajes empiezan con un solo paso fuera de casa. Ya sea un paseo por el parque o un "
        "viaje al otro lado del mundo, siempre hay algo nuevo que descubrir.",
    ),
    "fr": (
        "Chaque geste de gentillesse, aussi petit soit-il, a de la valeur et peut faire la différence. "
        "Aucun geste de bonne volonté n'est jamais perdu. Laisse-moi t'expliquer pourquoi.",
        "Les plus beaux voyages commencent par un simple pas hors de chez soi. Une promenade au parc ou "
        "un tour du monde, il y a toujours quelque chose de nouveau à découvrir.",
    ),
    "de": (
        "Jede freundliche Geste, so klein sie auch sein mag, hat einen Wert und kann etwas bewirken. "
        "Keine gute Tat ist jemals verschwendet. Lass mich dir erzählen, warum.",
        "Die schönsten Reisen beginnen mit einem einzigen Schritt vor die Tür. Ob ein Spaziergang im Park "
        "oder eine Reise um die Welt, es gibt immer etwas Neues zu entdecken.",
    ),
    "it": (
        "Ogni gesto di gentilezza, per quanto piccolo, ha un valore e può fare la differenza. Nessun atto "
        "di buona volontà va mai sprecato. Lascia che ti spieghi perché.",
        "I viaggi più belli iniziano con un solo passo fuori dalla porta. Che sia una passeggiata nel "
        "parco o un viaggio dall'altra parte del mondo, c'è sempre qualcosa di nuovo da scoprire.",
    ),
    "pt": (
        "Cada gesto de bondade, por menor que seja, tem valor e pode fazer a diferença. Nenhum gesto de "
        "boa vontade é desperdiçado. Deixa-me explicar porquê.",
        "As melhores viagens começam com um simples passo para fora de casa. Seja um passeio no parque ou "
        "uma viagem ao outro lado do mundo, há sempre algo novo para descobrir.",
    ),
    "nl": (
        "Elk gebaar van vriendelijkheid, hoe klein ook, heeft waarde en kan het verschil maken. Geen "
        "enkele goede daad is ooit verspild. Laat me je vertellen waarom.",
        "De mooiste reizen beginnen met een enkele stap buiten de deur. Of het nu een wandeling in het "
        "park is of een reis om de wereld, er valt altijd iets nieuws te ontdekken.",
    ),
}


def _pick(options: tuple[str, ...], seed: int, *salt: object) -> str:
    digest = hashlib.sha256(repr((seed, *salt)).encode()).digest()
    return options[int.from_bytes(digest[:4], "little") % len(options)]


def preview_text(
    theme: str | None, language: str | None, seed: int, *, energy: float = 0.0
) -> tuple[str, str]:
    """A passage for a voice of ``theme`` speaking ``language``, and the language it is in.

    The same arguments give the same passage. A language without passages of its own gets English.
    """
    code = (language or "en").split("-")[0].lower()
    if code != "en" and code in LANGUAGES:
        return _pick(LANGUAGES[code], seed, "lang", code), code
    if theme in THEMES:
        return _pick(THEMES[theme], seed, "theme", theme), "en"
    mood = "lively" if energy > 0.3 else "calm" if energy < -0.3 else "even"
    return _pick(GENERAL[mood], seed, "mood", mood), "en"
